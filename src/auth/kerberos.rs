//! `kerberos`: SPNEGO (`Authorization: Negotiate <token>`, RFC 4559)
//! accepted with the service key in a keytab, through MIT GSSAPI and the C
//! shim `gss_shim.c` (built by build.rs, as the libsolv shim is). With
//! Kerberos one round is enough: the client's token carries its ticket, the
//! answer may carry a mutual-authentication token.
//!
//! The user is the principal's name before `@REALM`, as in the original;
//! `realms`, when set, limits the realms accepted. The replay cache (which
//! refuses a ticket's authenticator seen before) is a file in the service's
//! cache directory, not MIT's default /var/tmp.

use std::ffi::{CStr, CString, c_char, c_int, c_uchar, c_void};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{AuthError, Identity};
use crate::config::auth::KerberosConfig;

unsafe extern "C" {
    fn odcs_gss_accept(
        keytab: *const c_char,
        rcache: *const c_char,
        input: *const c_uchar,
        in_len: usize,
        out_token: *mut *mut c_uchar,
        out_len: *mut usize,
        principal: *mut *mut c_char,
        error: *mut *mut c_char,
    ) -> c_int;
    fn odcs_gss_free(p: *mut c_void);
}

pub struct Kerberos {
    keytab: CString,
    /// `file2:<cache_dir>/kerberos.rcache`: the replay cache stays in the
    /// service's directories (MIT's default is /var/tmp).
    rcache: CString,
    realms: Vec<String>,
}

impl Kerberos {
    pub fn new(cfg: &KerberosConfig, cache_dir: &std::path::Path) -> Result<Kerberos, String> {
        let path = cfg.keytab.to_string_lossy().into_owned();
        std::fs::create_dir_all(cache_dir)
            .map_err(|e| format!("creating {}: {e}", cache_dir.display()))?;
        std::fs::File::open(&cfg.keytab)
            .map_err(|e| format!("[auth.kerberos] keytab {path}: {e}"))?;
        Ok(Kerberos {
            keytab: CString::new(path.clone())
                .map_err(|_| format!("[auth.kerberos] keytab {path:?} has a NUL byte"))?,
            rcache: CString::new(format!(
                "file2:{}",
                cache_dir.join("kerberos.rcache").display()
            ))
            .map_err(|_| format!("cache_dir {cache_dir:?} has a NUL byte"))?,
            realms: cfg.realms.clone(),
        })
    }

    /// The caller of a `Negotiate` token, and the reply token (base64) for
    /// `WWW-Authenticate: Negotiate <reply>`. Blocking: it reads the keytab.
    pub fn accept(&self, token_b64: &str) -> Result<(Identity, Option<String>), AuthError> {
        let token = STANDARD
            .decode(token_b64.trim())
            .map_err(|_| AuthError::Unauthenticated("the Negotiate token is not base64".into()))?;
        let (principal, reply) = gss_accept(&self.keytab, &self.rcache, &token).map_err(|e| {
            AuthError::Unauthenticated(format!("the Kerberos ticket was not accepted: {e}"))
        })?;
        let (user, realm) = principal.rsplit_once('@').ok_or_else(|| {
            AuthError::Unauthenticated(format!("the principal {principal:?} has no realm"))
        })?;
        if !self.realms.is_empty() && !self.realms.iter().any(|r| r == realm) {
            return Err(AuthError::Forbidden(format!(
                "users of realm {realm} are not accepted here"
            )));
        }
        if user.is_empty() || user.contains('/') {
            // a service principal (host/x@R) is not a user
            return Err(AuthError::Forbidden(format!(
                "the principal {principal} is not a user"
            )));
        }
        let reply = (!reply.is_empty()).then(|| STANDARD.encode(&reply));
        Ok((Identity::new(user, [], "kerberos"), reply))
    }
}

/// One call of the shim: the principal and the reply token.
fn gss_accept(keytab: &CStr, rcache: &CStr, token: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut out: *mut c_uchar = std::ptr::null_mut();
    let mut out_len = 0usize;
    let mut principal: *mut c_char = std::ptr::null_mut();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the shim allocates what it
    // returns through them, and each is freed below with odcs_gss_free.
    let rc = unsafe {
        odcs_gss_accept(
            keytab.as_ptr(),
            rcache.as_ptr(),
            token.as_ptr(),
            token.len(),
            &mut out,
            &mut out_len,
            &mut principal,
            &mut error,
        )
    };
    // SAFETY: non-null results are NUL-terminated strings / out_len bytes
    // from the shim, read before they are freed.
    unsafe {
        let text = |p: *mut c_char| {
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        let result = if rc == 0 {
            let reply = if out.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(out, out_len).to_vec()
            };
            text(principal)
                .map(|p| (p, reply))
                .ok_or_else(|| "no principal".to_owned())
        } else {
            Err(text(error).unwrap_or_else(|| format!("GSSAPI error {rc}")))
        };
        for p in [out.cast::<c_void>(), principal.cast(), error.cast()] {
            if !p.is_null() {
                odcs_gss_free(p);
            }
        }
        result
    }
}
