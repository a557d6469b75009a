/*
 * The acceptor side of HTTP Negotiate (RFC 4559) over MIT GSSAPI, for
 * src/auth: one SPNEGO or raw Kerberos token in, the client's principal and
 * the mutual-authentication reply token out.
 */

#ifndef ODCS_GSS_SHIM_H
#define ODCS_GSS_SHIM_H

#include <stddef.h>

/*
 * Accepts one token from a client (the decoded base64 of
 * `Authorization: Negotiate <base64>`).
 *
 * keytab: the acceptor keytab ("/path" or "FILE:/path"); NULL for the
 * default keytab (KRB5_KTNAME, else the profile's default_keytab_name). Any
 * key in it is accepted, whatever host name the client asked for.
 *
 * rcache: the replay cache ("file2:/path", MIT >= 1.18; "none" for none);
 * NULL for the default (KRB5RCACHEDIR, else /var/tmp).
 *
 * On success returns 0 and sets *principal (e.g. "alice@ODCS.TEST") and
 * *out_token / *out_len: the reply token, to be sent back as
 * `WWW-Authenticate: Negotiate <base64>`; it may be empty, and then
 * *out_token is NULL and *out_len 0.
 *
 * On failure returns nonzero and sets *error to a readable message (from
 * gss_display_status of the major and minor codes; NULL only when out of
 * memory); *principal and *out_token are NULL. A context needing more than one round
 * (GSS_S_CONTINUE_NEEDED) is a failure: HTTP Negotiate with Kerberos is one
 * round.
 *
 * Everything returned is malloc'd: free it with odcs_gss_free. Thread-safe:
 * no state is kept between calls.
 */
int odcs_gss_accept(const char *keytab, const char *rcache, const unsigned char *in,
                    size_t in_len, unsigned char **out_token, size_t *out_len,
                    char **principal, char **error);

/* Frees what odcs_gss_accept returned (NULL is fine). */
void odcs_gss_free(void *p);

#endif
