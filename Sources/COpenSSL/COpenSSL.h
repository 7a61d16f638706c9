// The system's OpenSSL (Debian: libssl-dev) for the `sdn` client's https:// connections, and helpers
// for what OpenSSL spells as macros (Swift cannot call a function-like macro).
#ifndef SDN_COPENSSL_H
#define SDN_COPENSSL_H

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/// Server Name Indication: the host name the client asks for (SSL_set_tlsext_host_name is a macro).
static inline int sdn_ssl_set_server_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// No SSLv3, TLS 1.0 or 1.1 (SSL_CTX_set_min_proto_version is a macro).
static inline int sdn_ssl_ctx_require_tls12(SSL_CTX *context) {
    return (int)SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
}

#endif
