/* sign: sandmail-sign's key table and its answers to send.  The
 * protocol is in doc/protocols.md ("The signing service"). */
#ifndef SANDMAIL_SIGN_H
#define SANDMAIL_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"
#include "dkim.h"

#define SIGN_BANNER	"sandmail-sign 1"
#define SIGN_KEYS_MAX	1000		/* lines of the key table */
#define SIGN_REQ_MAX	1024		/* one request, encoded */
#define SIGN_HELLO_MAX	(1u << 20)	/* the greeting, encoded */
#define SIGN_DOMAIN_MAX	253
#define SIGN_SEL_MAX	63

enum sign_type {
	SIGN_HELLO = 'G',	/* sign -> send: banner and the key list */
	SIGN_REQ = 'S',		/* send -> sign: sign this hash */
	SIGN_RES = 's',		/* sign -> send: the signature, or why not */
};

struct sign_key {
	char		*domain, *selector;
	enum dkim_alg	 alg;
	EVP_PKEY	*k;		/* NULL on send's side */
};

struct sign_keys {
	struct sign_key	*v;
	size_t		 n;
};

/* sign_table_parse - the text key table: "DOMAIN SELECTOR KEYFILE" lines,
 * '#' comments; keyfile paths relative to dir are made absolute by the
 * caller.  Each key is loaded by load (NULL: only parsed).  0, or -1 with
 * *line the bad line's number and *why the reason. */
typedef EVP_PKEY *sign_load_fn(const char *path, const char **why);
int	sign_table_parse(struct sign_keys *, const char *, size_t,
	    const char *dir, sign_load_fn *, size_t *line, const char **why);
void	sign_keys_free(struct sign_keys *);
/* sign_find - the i-th key (from *i) for domain, or NULL */
const struct sign_key *sign_find(const struct sign_keys *, const char *,
	    size_t *i);

/* The records (each a payload for rec.h's framing). */
int	sign_hello_encode(struct buf *, const struct sign_keys *);
int	sign_hello_decode(struct sign_keys *, const void *, size_t);
int	sign_req_encode(struct buf *, const char *domain, const char *sel,
	    enum dkim_alg, const unsigned char *hash);
/* sign_answer - one request to one result record (into out) */
int	sign_answer(const struct sign_keys *, const void *, size_t,
	    struct buf *out);
/* sign_res_decode - 0 signed (sig, *len), or -1 (EPROTO malformed,
 * ENOKEY refused: *why points into the record) */
int	sign_res_decode(const void *, size_t, unsigned char *sig,
	    size_t *len, const char **why, size_t *whylen);

#endif
