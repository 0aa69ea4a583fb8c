/*
 * seal.h - the integrity (and optional confidentiality) of a page on swap:
 * a slot's seal is what is needed to check - or decrypt - the 4 KiB that
 * were written to it (private to swapper/ and tests).
 *
 * Two modes, fixed per swapper at create time:
 *   SEAL_CRC32C       the page is written as is; its seal is the CRC-32C
 *                     (Castagnoli) of the page, seeded with the slot's
 *                     global id so a page read from the wrong slot (a
 *                     misdirected write or read) fails too.  4 bytes.
 *   SEAL_AES256GCM    the page is written encrypted with AES-256-GCM under
 *                     a key made at create time from the OS RNG and held
 *                     only in memory (mlocked, never dumped, wiped at
 *                     destroy).  Nonce = 32 zero bits || a 64-bit write
 *                     counter of the swapper (unique per key: the counter
 *                     never repeats and the key never outlives the
 *                     swapper); associated data = the slot's global id, so a
 *                     ciphertext copied to another slot fails.  The seal is
 *                     the counter and the 16-byte tag: 24 bytes.
 *
 * Who stores seals: swapset.c, per slot, in per-cluster tables (see
 * swapset_seal_*).  Who seals: writeback.c, over a staging buffer (read
 * only while its write is in flight).  Who opens: swapin.c, over the bounce
 * buffer a read filled, before the page is installed or taken.
 *
 * Thread safety: every function may be called from any thread at once
 * (the key is read-only after seal_create; each AEAD call has its own
 * cipher context).
 */
#ifndef HVSWAP_SWAPPER_SEAL_H
#define HVSWAP_SWAPPER_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum seal_mode {
	SEAL_CRC32C = 0,
	SEAL_AES256GCM = 1,
};

#define SEAL_TAG_BYTES 16

/* One slot's seal, in memory.  Stored in swapset's tables packed to
 * seal_entry_bytes() (4 or 24 bytes). */
struct seal_entry {
	uint32_t crc;                   /* SEAL_CRC32C */
	uint64_t ctr;                   /* SEAL_AES256GCM: nonce counter */
	uint8_t tag[SEAL_TAG_BYTES];    /* SEAL_AES256GCM */
};

struct seal;

/* 0, -ENOMEM, or -EIO when the RNG or the cipher is unavailable (a
 * log_err() says which). */
int seal_create(bool encrypt, struct seal **out);
/* Wipes the key.  NULL is allowed. */
void seal_destroy(struct seal *sl);
/* The bytes each seal covers: 4096 (the default) or a huge unit's 2 MiB.
 * Set once, before the first seal_page. */
void seal_set_unit(struct seal *sl, size_t bytes);
enum seal_mode seal_mode(const struct seal *sl);
/* "crc32c" or "aes-256-gcm" (the stats' features.integrity). */
const char *seal_name(const struct seal *sl);
/* Bytes kept per slot: 4 (crc32c) or 24 (aes-256-gcm). */
size_t seal_entry_bytes(const struct seal *sl);
void seal_entry_pack(const struct seal *sl, const struct seal_entry *e, void *dst);
void seal_entry_unpack(const struct seal *sl, const void *src, struct seal_entry *e);

/*
 * Seal 4 KiB page src for global slot g into *e.  CRC32C: dst is unused
 * (the page is written from src).  AES-256-GCM: src is encrypted into dst
 * (never in place: a fault may copy the plaintext from the staging buffer
 * while its write is in flight) with a fresh nonce.  0 or -EIO.
 */
int seal_page(struct seal *sl, uint64_t g, const void *src, void *dst,
	      struct seal_entry *e);
/*
 * Check 4 KiB buf read from slot g against its seal e; with AES-256-GCM
 * decrypt it in place.  0, or -EBADMSG on a mismatch / authentication
 * failure (buf must then not be used: with AES-256-GCM it holds garbage).
 */
int seal_open(struct seal *sl, uint64_t g, void *buf, const struct seal_entry *e);

/* CRC-32C (Castagnoli) of p[0..n), continuing crc (start with 0). */
uint32_t seal_crc32c(uint32_t crc, const void *p, size_t n);

#endif
