/* dkim: the parts of DKIM (RFC 6376, RFC 8463, RFC 8301) that a signer and
 * a verifier share: the tag-list parser (signatures and DNS key records),
 * header and body canonicalization (simple and relaxed, the body hashed as
 * it streams), the header list with over-signing, the DKIM-Signature
 * header, and the public-key operations through OpenSSL's EVP interface.
 * Nothing here reads files or the network: callers hand in bytes.  Lines
 * may end in LF or CRLF; both canonicalize to CRLF. */
#ifndef SANDMAIL_DKIM_H
#define SANDMAIL_DKIM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"

#define DKIM_HASHLEN	32		/* SHA-256, the only hash we accept */
#define DKIM_TAGS_MAX	64		/* tags in one list; more is an error */
#define DKIM_SIG_MAX	512		/* bytes of one signature (4096-bit RSA) */
#define DKIM_RSA_SIGN_MIN	2048	/* RFC 8301 3.2: sign with >= 2048 */
#define DKIM_RSA_VERIFY_MIN	1024	/* RFC 8301 3.2: verify >= 1024 */
#define DKIM_FIELDS_MAX	1000		/* header fields a message may have */

enum dkim_canon { DKIM_SIMPLE, DKIM_RELAXED };
enum dkim_alg { DKIM_RSA_SHA256, DKIM_ED25519_SHA256 };

/* One tag of a tag list: name and value point into the parsed text; the
 * value is trimmed of surrounding whitespace, inner folding kept. */
struct dkim_tag {
	const char	*name, *val;
	size_t		 nlen, vlen;
};

struct dkim_tags {
	struct dkim_tag	 t[DKIM_TAGS_MAX];
	size_t		 n;
};

/* dkim_tags_parse - RFC 6376 3.2; 0, or -1 (EINVAL syntax or a duplicate
 * tag, E2BIG too many tags) */
int	dkim_tags_parse(struct dkim_tags *, const char *, size_t);
/* dkim_tag_get - the tag called name, or NULL */
const struct dkim_tag *dkim_tag_get(const struct dkim_tags *, const char *);

/* One header field: p..p+n is the field without its final line end,
 * folded lines included; nlen is the length of its name; v the offset of
 * its value (one past the colon), 0 for a line with no colon, which is no
 * field (dkim_field_is matches no name to it). */
struct dkim_field {
	const char	*p;
	size_t		 n, nlen, v;
};

struct dkim_fields {
	struct dkim_field	f[DKIM_FIELDS_MAX];
	size_t			n;
	size_t			body;	/* offset of the body in the message */
};

/* dkim_field_value - the field's value, after the colon (its length in
 * *len); an empty one for a line with no colon */
const char *dkim_field_value(const struct dkim_field *, size_t *);

/* dkim_fields_split - the header fields of a message; 0, or -1 with
 * E2BIG (more than DKIM_FIELDS_MAX).  A message with no empty line is all
 * header and has an empty body. */
int	dkim_fields_split(struct dkim_fields *, const char *, size_t);
/* dkim_field_is - whether the field's name is name (case-insensitive) */
int	dkim_field_is(const struct dkim_field *, const char *, size_t);

/* dkim_canon_header - append one canonicalized field to out; crlf 0
 * leaves the line end off (the DKIM-Signature field itself, 3.7) */
int	dkim_canon_header(enum dkim_canon, const char *, size_t,
	    struct buf *out, int crlf);

/* The body hash, computed as the body streams by. */
struct dkim_body {
	EVP_MD_CTX	*md;
	enum dkim_canon	 c;
	uint64_t	 nempty;	/* empty lines not yet known inside */
	int		 wsp;		/* relaxed: whitespace pending */
	int		 data;		/* this line has output */
	int		 cr;		/* a CR waits for its LF */
	int		 any;		/* something was hashed */
	size_t		 olen;
	unsigned char	 out[4096];
};

int	dkim_body_init(struct dkim_body *, enum dkim_canon);
int	dkim_body_update(struct dkim_body *, const void *, size_t);
/* dkim_body_final - the hash; frees the context (call free otherwise) */
int	dkim_body_final(struct dkim_body *, unsigned char[DKIM_HASHLEN]);
void	dkim_body_free(struct dkim_body *);

/* What a signer puts in the signature. */
struct dkim_sigreq {
	enum dkim_alg	 alg;
	enum dkim_canon	 hc, bc;
	const char	*domain, *selector;
	time_t		 t;		/* 0: no t= */
};

/* dkim_sign_headers - the default signed-header list, over-signed: each
 * name once more than the message has it, so none can be added (the
 * practice of OpenDKIM's OversignHeaders).  Appends "from:from:..." */
int	dkim_sign_headers(const struct dkim_fields *, struct buf *h);

/* dkim_sig_begin - the DKIM-Signature field up to an empty b=, into sig
 * (no line end), and the SHA-256 of the header data it covers (3.7) */
int	dkim_sig_begin(const struct dkim_sigreq *, const struct dkim_fields *,
	    const char *h, const unsigned char bh[DKIM_HASHLEN],
	    struct buf *sig, unsigned char hash[DKIM_HASHLEN]);
/* dkim_sig_end - append the b= value, folded, and CRLF */
int	dkim_sig_end(struct buf *sig, const unsigned char *, size_t);

/* dkim_headers_hash - the header hash input of 3.7 for the fields named
 * in h (colon-separated, selected from the bottom up), then sigfield
 * (the signature field with its b= value emptied) without a line end */
int	dkim_headers_hash(enum dkim_canon, const struct dkim_fields *,
	    const char *h, size_t hlen, const char *sigfield, size_t siglen,
	    unsigned char hash[DKIM_HASHLEN]);

/* The signatures of one message, made in one call to a dkim_signfn (so
 * that a signing service is asked once per message). */
#define DKIM_SIGS_MAX	8

struct dkim_sigout {
	unsigned char	 hash[DKIM_HASHLEN];	/* in: the header hash */
	unsigned char	 sig[DKIM_SIG_MAX];	/* out */
	size_t		 siglen;		/* out */
};

/* dkim_signfn - sign o[i].hash with the key of q[i], for each i < n: 0,
 * or -1 (the caller may hold the keys or ask the signing service) */
typedef int dkim_signfn(void *, const struct dkim_sigreq *q,
    struct dkim_sigout *o, size_t n);
/* dkim_sign_msg - a whole message (bytes as they will be sent): append
 * one DKIM-Signature field per request, CRLF-ended, to out; the body is
 * hashed once per canonicalization */
int	dkim_sign_msg(const char *, size_t, const struct dkim_sigreq *,
	    size_t, dkim_signfn *, void *, struct buf *out);

/* Key operations.  dkim_key_alg: the algorithm a key fits, or -1
 * (EINVAL unknown type, ERANGE an RSA key too short for min bits). */
int	dkim_key_alg(EVP_PKEY *, int min_rsa_bits);
int	dkim_pk_sign(EVP_PKEY *, enum dkim_alg, const unsigned char *hash,
	    unsigned char *sig, size_t *siglen);
int	dkim_pk_verify(EVP_PKEY *, enum dkim_alg, const unsigned char *hash,
	    const unsigned char *sig, size_t siglen);	/* 1 good, 0 bad */

/* dkim_pubkey_parse - a DNS key record (3.6.1) to a public key; -1 with
 * EINVAL (syntax, unknown k=), ENOKEY (p= empty: revoked), ERANGE
 * (RSA too short) */
int	dkim_pubkey_parse(const char *, size_t, EVP_PKEY **);
/* dkim_pubkey_txt - the TXT record to publish for a key */
int	dkim_pubkey_txt(EVP_PKEY *, struct buf *);

/* Verification of one message against one public key. */
enum dkim_result {
	DKIM_PASS, DKIM_FAIL_BODY, DKIM_FAIL_SIG, DKIM_NONE, DKIM_PERMERROR
};

struct dkim_verdict {
	enum dkim_result	 r;
	const char		*why;	/* a short static reason */
	char			 d[256], s[64];
};

/* dkim_verify_field - check the signature in field i of a message */
void	dkim_verify_field(const char *msg, size_t n,
	    const struct dkim_fields *, size_t i, EVP_PKEY *, time_t now,
	    struct dkim_verdict *);

/* dkim_b64 - base64 helpers on libsodium; decoding skips whitespace */
int	dkim_b64_put(struct buf *, const unsigned char *, size_t);
int	dkim_b64_get(const char *, size_t, unsigned char *, size_t max,
	    size_t *len);

#endif
