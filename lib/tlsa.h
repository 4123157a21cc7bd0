/* tlsa: TLSA records (RFC 6698) for DANE with SMTP (RFC 7671, 7672):
 * the record's wire form, the text form send and resolve carry in jobs
 * ("3 1 1 HEX"), and which records SMTP may use.  Pure functions on
 * bytes, unit tested and fuzzed (tests/fuzz/fuzz_tlsa.c). */
#ifndef SANDMAIL_TLSA_H
#define SANDMAIL_TLSA_H

#include <stddef.h>
#include <stdint.h>

/* Data kept from one record: a SHA-512 digest, or a small key.  A longer
 * record (a whole certificate or RSA key, matching type 0, which RFC
 * 7671 10.1.2 discourages) is kept as unusable: it still counts as a
 * record published, so the host still needs TLS (RFC 7672 2.2). */
#define TLSA_DATA_MAX	64
/* "255 255 255 " and the data in hex, and the NUL */
#define TLSA_TEXT_MAX	(12 + 2 * TLSA_DATA_MAX + 1)

enum tlsa_usage { TLSA_PKIX_TA = 0, TLSA_PKIX_EE = 1, TLSA_DANE_TA = 2,
	TLSA_DANE_EE = 3 };

struct tlsa {
	uint8_t		usage, selector, mtype;
	uint8_t		oversize;	/* data longer than TLSA_DATA_MAX */
	size_t		len;
	uint8_t		data[TLSA_DATA_MAX];
};

/* tlsa_parse: rdata of n bytes; 0, or -1 (shorter than 4 bytes) */
int	tlsa_parse(const uint8_t *rdata, size_t n, struct tlsa *t);
/* tlsa_usable: 1 if SMTP may use t: DANE-TA(2) or DANE-EE(3) (PKIX-*
 * are ignored, RFC 7672 3.1.3), selector 0 or 1, matching type 0 (not
 * oversize), 1 (32 bytes) or 2 (64 bytes) */
int	tlsa_usable(const struct tlsa *t);
/* tlsa_format: "U S M HEX" into out; 0, or -1 if it does not fit */
int	tlsa_format(const struct tlsa *t, char *out, size_t outsz);
/* tlsa_scan: the text form back; 0, or -1 (the whole string must be one
 * record: three numbers up to 255, one space each, even-length hex) */
int	tlsa_scan(const char *s, struct tlsa *t);

#endif
