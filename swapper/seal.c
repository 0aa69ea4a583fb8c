/*
 * seal.c - a page's seal on swap: CRC-32C, or AES-256-GCM authenticated
 * encryption (the modes, nonces and associated data are described in
 * seal.h).
 *
 * Owns: the struct seal of a swapper - its mode, the AES key (one locked,
 * never-dumped page of its own, wiped at destroy), the cipher handle, the
 * 64-bit write counter that makes every nonce fresh, and a small pool of
 * cipher contexts with the key already expanded (ctx_lock, a leaf: held
 * only to pop or push one).  Writes run on the reclaim thread, opens on the
 * I/O engine's completion thread(s): each AEAD call takes a context of its
 * own from the pool (a new context per call cost ~0.45 us more of 4 KiB's
 * ~1.5 us here).  The key and cipher are read-only after seal_create, the
 * counter is atomic.
 *
 * CRC-32C: neither libc, zlib (CRC-32, another polynomial) nor OpenSSL has
 * it, and the one Debian package that does (Google's crc32c) is C++.  It is
 * eight bytes per SSE4.2 `crc32` instruction where the CPU has it (every
 * x86-64 since 2008; checked once at create), else a byte-wise table (any
 * other CPU; ~10x slower but correct).  A page is three interleaved
 * streams (the instruction's latency is 3 cycles, its throughput 1), joined
 * with a table that appends LANE_BYTES zero bytes to a CRC (by linearity:
 * crc(x, A || B) = crc(x, A) * x^(8|B|) + crc(0, B)): 3x faster than one
 * stream, the same CRC-32C.  crc32c rather than a non-CRC hash:
 * it detects every burst error of up to 32 bits and every odd number of
 * bit flips, which is what disks and buses produce, and it is what
 * storage stacks use (iSCSI, ext4/btrfs metadata, NVMe).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "hvswap/log.h"
#include "lock.h"
#include "seal.h"

#define PAGE_BYTES 4096
#define KEY_BYTES 32
#define NONCE_BYTES 12
#define KEY_PAGE 4096
#define CTX_POOL 8              /* > the threads that seal at once */
#define LANE_BYTES 1360         /* 3 lanes of 170 words; 16 bytes follow */

struct seal {
	enum seal_mode mode;
	size_t bytes;                   /* per seal: 4096 or a 2 MiB unit */
	bool hw_crc;                    /* SSE4.2 crc32 instruction */
	uint32_t shift[4][256];         /* raw CRC register -> the register
					   after LANE_BYTES more zero bytes,
					   by byte of the input */
	uint8_t *key;                   /* KEY_PAGE bytes: mmap'ed, mlocked */
	EVP_CIPHER *cipher;
	_Atomic uint64_t ctr;           /* next nonce counter */
	pthread_mutex_t ctx_lock;       /* leaf */
	EVP_CIPHER_CTX *ctx[CTX_POOL];  /* key set; protected by ctx_lock */
	unsigned int nctx;              /* protected by ctx_lock */
};

/* CRC-32C, reflected polynomial 0x82F63B78. */
static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
	0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
	0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
	0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
	0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
	0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
	0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
	0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
	0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
	0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
	0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
	0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
	0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
	0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
	0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
	0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
	0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
	0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
	0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
	0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
	0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
	0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

/*
 * The CRC loops read guest pages the swapper holds under their page lock
 * while write-protected (evict_clean recomputes a seal): a VMM or vCPU
 * write to such a page traps to the fault thread, which needs that lock, so
 * it cannot land during the read.  That ordering is the kernel's
 * (userfaultfd write-protect), which ThreadSanitizer cannot see; the loops
 * are left out of its instrumentation.
 */
#define NO_TSAN __attribute__((no_sanitize("thread")))

NO_TSAN
static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--)
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
NO_TSAN __attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = crc, v;

	for (; n >= 8; n -= 8, p += 8) {
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
	}
	crc = (uint32_t)c;
	while (n--)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}

static bool cpu_has_crc(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	return crc_sw(crc, p, n);
}

static bool cpu_has_crc(void)
{
	return false;
}
#endif

/* A raw (not inverted) CRC register after LANE_BYTES zero bytes. */
static uint32_t lane_shift(const struct seal *sl, uint32_t c)
{
	return sl->shift[0][c & 0xff] ^ sl->shift[1][(c >> 8) & 0xff] ^
	       sl->shift[2][(c >> 16) & 0xff] ^ sl->shift[3][c >> 24];
}

/* The shift is linear: from the 32 single-bit inputs, every byte's. */
static void shift_init(struct seal *sl)
{
	uint32_t basis[32];
	unsigned int i, k, b, j;

	for (i = 0; i < 32; i++) {
		uint32_t c = 1u << i;

		for (j = 0; j < LANE_BYTES; j++)
			c = crc32c_table[c & 0xff] ^ (c >> 8);
		basis[i] = c;
	}
	for (k = 0; k < 4; k++) {
		for (b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (j = 0; j < 8; j++) {
				if (b & (1u << j))
					v ^= basis[8 * k + j];
			}
			sl->shift[k][b] = v;
		}
	}
}

#if defined(__x86_64__)
/* One 4 KiB page from raw register c, three lanes at a time. */
NO_TSAN __attribute__((target("sse4.2")))
static uint32_t page_hw(const struct seal *sl, uint32_t c, const uint8_t *p)
{
	uint64_t a = c, b = 0, d = 0, va, vb, vd;
	unsigned int i;

	for (i = 0; i < LANE_BYTES; i += 8) {
		memcpy(&va, p + i, 8);
		memcpy(&vb, p + LANE_BYTES + i, 8);
		memcpy(&vd, p + 2 * LANE_BYTES + i, 8);
		a = _mm_crc32_u64(a, va);
		b = _mm_crc32_u64(b, vb);
		d = _mm_crc32_u64(d, vd);
	}
	c = lane_shift(sl, (uint32_t)a) ^ (uint32_t)b;
	c = lane_shift(sl, c) ^ (uint32_t)d;
	return crc_hw(c, p + 3 * LANE_BYTES, PAGE_BYTES - 3 * LANE_BYTES);
}
#else
static uint32_t page_hw(const struct seal *sl, uint32_t c, const uint8_t *p)
{
	(void)sl;
	return crc_sw(c, p, PAGE_BYTES);
}
#endif

static uint32_t crc_run(bool hw, uint32_t crc, const void *p, size_t n)
{
	crc = ~crc;
	crc = hw ? crc_hw(crc, p, n) : crc_sw(crc, p, n);
	return ~crc;
}

uint32_t seal_crc32c(uint32_t crc, const void *p, size_t n)
{
	return crc_run(cpu_has_crc(), crc, p, n);
}

/* The key's page: locked (never written to host swap), left out of core
 * dumps and wiped in a forked child. */
static int key_page_new(uint8_t **out)
{
	uint8_t *k = mmap(NULL, KEY_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t got = 0;

	if (k == MAP_FAILED)
		return -ENOMEM;
	if (mlock(k, KEY_PAGE) < 0) {
		int e = errno;

		log_err("swap encryption: cannot mlock the key page (%s): raise "
			"RLIMIT_MEMLOCK (ulimit -l)", strerror(e));
		munmap(k, KEY_PAGE);
		return -e;
	}
	madvise(k, KEY_PAGE, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
	madvise(k, KEY_PAGE, MADV_WIPEONFORK);
#endif
	while (got < KEY_BYTES) {
		ssize_t r = getrandom(k + got, KEY_BYTES - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_err("swap encryption: no random key from getrandom(): %s",
				strerror(errno));
			OPENSSL_cleanse(k, KEY_PAGE);
			munlock(k, KEY_PAGE);
			munmap(k, KEY_PAGE);
			return -EIO;
		}
		got += (size_t)r;
	}
	*out = k;
	return 0;
}

static void key_page_free(uint8_t *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, KEY_PAGE);
	munlock(k, KEY_PAGE);
	munmap(k, KEY_PAGE);
}

int seal_create(bool encrypt, struct seal **out)
{
	struct seal *sl = calloc(1, sizeof(*sl));
	int r;

	if (!sl)
		return -ENOMEM;
	sl->mode = encrypt ? SEAL_AES256GCM : SEAL_CRC32C;
	sl->bytes = PAGE_BYTES;
	sl->hw_crc = cpu_has_crc();
	shift_init(sl);
	pthread_mutex_init(&sl->ctx_lock, NULL);
	atomic_store(&sl->ctr, 1);
	if (encrypt) {
		sl->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
		if (!sl->cipher) {
			log_err("swap encryption: OpenSSL has no AES-256-GCM");
			seal_destroy(sl);
			return -EIO;
		}
		r = key_page_new(&sl->key);
		if (r < 0) {
			seal_destroy(sl);
			return r;
		}
	}
	*out = sl;
	return 0;
}

void seal_destroy(struct seal *sl)
{
	if (!sl)
		return;
	while (sl->nctx)
		EVP_CIPHER_CTX_free(sl->ctx[--sl->nctx]);  /* cleanses */
	key_page_free(sl->key);
	EVP_CIPHER_free(sl->cipher);
	pthread_mutex_destroy(&sl->ctx_lock);
	free(sl);
}

void seal_set_unit(struct seal *sl, size_t bytes)
{
	sl->bytes = bytes;
}

enum seal_mode seal_mode(const struct seal *sl)
{
	return sl->mode;
}

const char *seal_name(const struct seal *sl)
{
	return sl->mode == SEAL_AES256GCM ? "aes-256-gcm" : "crc32c";
}

size_t seal_entry_bytes(const struct seal *sl)
{
	return sl->mode == SEAL_AES256GCM ? sizeof(uint64_t) + SEAL_TAG_BYTES
					  : sizeof(uint32_t);
}

void seal_entry_pack(const struct seal *sl, const struct seal_entry *e, void *dst)
{
	uint8_t *d = dst;

	if (sl->mode == SEAL_CRC32C) {
		memcpy(d, &e->crc, sizeof(e->crc));
		return;
	}
	memcpy(d, &e->ctr, sizeof(e->ctr));
	memcpy(d + sizeof(e->ctr), e->tag, SEAL_TAG_BYTES);
}

void seal_entry_unpack(const struct seal *sl, const void *src, struct seal_entry *e)
{
	const uint8_t *s = src;

	memset(e, 0, sizeof(*e));
	if (sl->mode == SEAL_CRC32C) {
		memcpy(&e->crc, s, sizeof(e->crc));
		return;
	}
	memcpy(&e->ctr, s, sizeof(e->ctr));
	memcpy(e->tag, s + sizeof(e->ctr), SEAL_TAG_BYTES);
}

/* The slot's CRC: the slot id first, so data read from another slot fails. */
static uint32_t page_crc(const struct seal *sl, uint64_t g, const void *page)
{
	uint32_t c = ~crc_run(sl->hw_crc, 0, &g, sizeof(g));
	const uint8_t *p = page;
	size_t off;

	/* a huge unit: its 4 KiB pages in order, one running CRC */
	for (off = 0; off < sl->bytes; off += PAGE_BYTES)
		c = sl->hw_crc ? page_hw(sl, c, p + off) : crc_sw(c, p + off, PAGE_BYTES);
	return ~c;
}

static void make_nonce(uint64_t ctr, uint8_t nonce[NONCE_BYTES])
{
	memset(nonce, 0, NONCE_BYTES - sizeof(ctr));
	memcpy(nonce + NONCE_BYTES - sizeof(ctr), &ctr, sizeof(ctr));
}

/* A cipher context with the key set: from the pool, else new. */
static EVP_CIPHER_CTX *ctx_get(struct seal *sl)
{
	EVP_CIPHER_CTX *c = NULL;

	lock_mutex(&sl->ctx_lock, LK_LEAF);
	if (sl->nctx)
		c = sl->ctx[--sl->nctx];
	unlock_mutex(&sl->ctx_lock, LK_LEAF);
	if (c)
		return c;
	c = EVP_CIPHER_CTX_new();
	if (c && !EVP_CipherInit_ex2(c, sl->cipher, sl->key, NULL, 1, NULL)) {
		EVP_CIPHER_CTX_free(c);
		c = NULL;
	}
	return c;
}

static void ctx_put(struct seal *sl, EVP_CIPHER_CTX *c)
{
	lock_mutex(&sl->ctx_lock, LK_LEAF);
	if (sl->nctx < CTX_POOL) {
		sl->ctx[sl->nctx++] = c;
		c = NULL;
	}
	unlock_mutex(&sl->ctx_lock, LK_LEAF);
	EVP_CIPHER_CTX_free(c);
}

/* One AES-256-GCM pass over a page with the slot id as associated data:
 * enc: in -> out, tag out; !enc: in -> out (may alias), tag checked.  A
 * context is re-armed with the nonce and direction only (the key schedule
 * is kept); a failed one is not reused. */
static int gcm(struct seal *sl, bool enc, uint64_t g, uint64_t ctr,
	       const void *in, void *out, uint8_t tag[SEAL_TAG_BYTES])
{
	EVP_CIPHER_CTX *c = ctx_get(sl);
	uint8_t nonce[NONCE_BYTES];
	int len, ok;

	if (!c)
		return -ENOMEM;
	make_nonce(ctr, nonce);
	ok = EVP_CipherInit_ex2(c, NULL, NULL, nonce, enc ? 1 : 0, NULL) &&
	     EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)&g, sizeof(g)) &&
	     EVP_CipherUpdate(c, out, &len, in, (int)sl->bytes) && len == (int)sl->bytes;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_BYTES, tag);
	if (ok)
		ok = EVP_CipherFinal_ex(c, (uint8_t *)out + sl->bytes, &len) > 0;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_BYTES, tag);
	if (ok)
		ctx_put(sl, c);
	else
		EVP_CIPHER_CTX_free(c);         /* cleanses the key schedule */
	return ok ? 0 : enc ? -EIO : -EBADMSG;
}

int seal_page(struct seal *sl, uint64_t g, const void *src, void *dst,
	      struct seal_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (sl->mode == SEAL_CRC32C) {
		e->crc = page_crc(sl, g, src);
		return 0;
	}
	e->ctr = atomic_fetch_add(&sl->ctr, 1);
	return gcm(sl, true, g, e->ctr, src, dst, e->tag);
}

int seal_open(struct seal *sl, uint64_t g, void *buf, const struct seal_entry *e)
{
	uint8_t tag[SEAL_TAG_BYTES];

	if (sl->mode == SEAL_CRC32C)
		return page_crc(sl, g, buf) == e->crc ? 0 : -EBADMSG;
	memcpy(tag, e->tag, sizeof(tag));
	return gcm(sl, false, g, e->ctr, buf, buf, tag);
}
