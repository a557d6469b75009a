/*
 * The acceptor side of HTTP Negotiate over MIT GSSAPI (see gss_shim.h).
 *
 * The credential is acquired from the keytab for the Kerberos and SPNEGO
 * mechanisms, so both a raw Kerberos AP-REQ and a SPNEGO NegTokenInit
 * wrapping one (what curl --negotiate and browsers send) are accepted. The
 * acceptor name is GSS_C_NO_NAME: any service key in the keytab will do.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include "gss_shim.h"

void odcs_gss_free(void *p)
{
  free(p);
}

/* A malloc'd copy of len bytes of p, NUL-terminated. */
static char *odcs_strndup(const void *p, size_t len)
{
  char *s = malloc(len + 1);
  if (s) {
    memcpy(s, p, len);
    s[len] = '\0';
  }
  return s;
}

/* Appends every message gss_display_status has for code (of kind type) to
 * buf, each after sep. */
static void odcs_append_status(char *buf, size_t size, OM_uint32 code, int type, gss_OID mech)
{
  OM_uint32 more = 0, minor;
  do {
    gss_buffer_desc msg = GSS_C_EMPTY_BUFFER;
    OM_uint32 major = gss_display_status(&minor, code, type, mech, &more, &msg);
    if (GSS_ERROR(major)) {
      break;
    }
    size_t used = strlen(buf);
    if (used + 1 < size && msg.length > 0) {
      snprintf(buf + used, size - used, "%s%.*s", buf[used - 1] == ' ' ? "" : "; ",
               (int)msg.length, (const char *)msg.value);
    }
    gss_release_buffer(&minor, &msg);
  } while (more != 0);
}

/* A malloc'd "what: <major messages>; <minor messages>". */
static char *odcs_status_message(const char *what, OM_uint32 major, OM_uint32 minor, gss_OID mech)
{
  char buf[2048];
  snprintf(buf, sizeof buf, "%s: ", what);
  size_t prefix = strlen(buf);
  /* GSS_S_FAILURE only says "see the minor code" */
  if (GSS_ROUTINE_ERROR(major) != GSS_S_FAILURE || minor == 0) {
    odcs_append_status(buf, sizeof buf, major, GSS_C_GSS_CODE, GSS_C_NO_OID);
  }
  if (minor != 0) {
    odcs_append_status(buf, sizeof buf, minor, GSS_C_MECH_CODE, mech);
  }
  if (strlen(buf) == prefix) {
    snprintf(buf + prefix, sizeof buf - prefix, "major 0x%x, minor %u", (unsigned)major,
             (unsigned)minor);
  }
  return odcs_strndup(buf, strlen(buf));
}

int odcs_gss_accept(const char *keytab, const char *rcache, const unsigned char *in,
                    size_t in_len, unsigned char **out_token, size_t *out_len,
                    char **principal, char **error)
{
  OM_uint32 major, minor = 0, ignored;
  /* on the stack: nothing is shared between calls */
  gss_OID_desc mech_elems[2] = {
    {9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"}, /* Kerberos, 1.2.840.113554.1.2.2 */
    {6, (void *)"\x2b\x06\x01\x05\x05\x02"},                 /* SPNEGO, 1.3.6.1.5.5.2 */
  };
  gss_OID_set_desc mechs = {2, mech_elems};
  gss_key_value_element_desc store_elems[2];
  gss_key_value_set_desc store = {0, store_elems};
  gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
  gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
  gss_name_t source = GSS_C_NO_NAME;
  gss_OID mech = GSS_C_NO_OID;
  gss_buffer_desc input = {in_len, (void *)in};
  gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
  gss_buffer_desc name = GSS_C_EMPTY_BUFFER;
  int ret = 1;

  *out_token = NULL;
  *out_len = 0;
  *principal = NULL;
  *error = NULL;

  if (in_len == 0) {
    *error = odcs_strndup("empty Negotiate token", 21);
    return 1;
  }
  if (keytab) {
    store_elems[store.count].key = "keytab";
    store_elems[store.count++].value = keytab;
  }
  if (rcache) {
    store_elems[store.count].key = "rcache";
    store_elems[store.count++].value = rcache;
  }

  major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs,
                                GSS_C_ACCEPT, store.count ? &store : GSS_C_NO_CRED_STORE,
                                &cred, NULL, NULL);
  if (GSS_ERROR(major)) {
    *error = odcs_status_message("cannot use the acceptor keytab", major, minor, GSS_C_NO_OID);
    goto out;
  }

  major = gss_accept_sec_context(&minor, &ctx, cred, &input, GSS_C_NO_CHANNEL_BINDINGS,
                                 &source, &mech, &output, NULL, NULL, NULL);
  if (GSS_ERROR(major)) {
    *error = odcs_status_message("Negotiate token refused", major, minor, mech);
    goto out;
  }
  if (major & GSS_S_CONTINUE_NEEDED) {
    *error = odcs_strndup("Negotiate token refused: more than one round", 44);
    goto out;
  }

  major = gss_display_name(&minor, source, &name, NULL);
  if (GSS_ERROR(major)) {
    *error = odcs_status_message("cannot name the client", major, minor, GSS_C_NO_OID);
    goto out;
  }
  *principal = odcs_strndup(name.value, name.length);
  if (output.length > 0) {
    *out_token = malloc(output.length);
    if (*out_token) {
      memcpy(*out_token, output.value, output.length);
      *out_len = output.length;
    }
  }
  if (!*principal || (output.length > 0 && !*out_token)) {
    free(*principal);
    free(*out_token);
    *principal = NULL;
    *out_token = NULL;
    *out_len = 0;
    *error = odcs_strndup("out of memory", 13);
    goto out;
  }
  ret = 0;

out:
  gss_release_buffer(&ignored, &name);
  gss_release_buffer(&ignored, &output);
  gss_release_name(&ignored, &source);
  if (ctx != GSS_C_NO_CONTEXT) {
    gss_delete_sec_context(&ignored, &ctx, GSS_C_NO_BUFFER);
  }
  if (cred != GSS_C_NO_CREDENTIAL) {
    gss_release_cred(&ignored, &cred);
  }
  return ret;
}
