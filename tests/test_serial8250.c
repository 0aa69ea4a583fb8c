/*
 * test_serial8250.c - unit tests of the 16550A UART model (vmm/serial8250.c):
 * console output by lines with "\r\n" folded, the divisor latch, the probes
 * Linux's 8250 driver makes (IER scratch, FIFO bits in IIR, loopback
 * through MCR/MSR), and the interrupt line (THR-empty and data-ready, one
 * edge per transmitted byte).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "serial8250.h"

struct sink {
	char out[4096];
	size_t len;
	unsigned int writes;            /* ops->out calls */
	bool level;
	unsigned int rises, falls;
};

static void sink_out(void *ctx, const char *p, size_t n)
{
	struct sink *s = ctx;

	assert_true(s->len + n < sizeof(s->out));
	memcpy(s->out + s->len, p, n);
	s->len += n;
	s->out[s->len] = '\0';
	s->writes++;
}

static void sink_irq(void *ctx, bool level)
{
	struct sink *s = ctx;

	assert_true(level != s->level);         /* only changes are reported */
	s->level = level;
	if (level)
		s->rises++;
	else
		s->falls++;
}

static const struct serial8250_ops ops = { sink_out, sink_irq };

static uint8_t rd(struct serial8250 *u, unsigned int reg)
{
	uint8_t v = 0xaa;

	serial8250_access(u, reg, &v, false);
	return v;
}

static void wr(struct serial8250 *u, unsigned int reg, uint8_t v)
{
	serial8250_access(u, reg, &v, true);
}

static void puts_uart(struct serial8250 *u, const char *s)
{
	while (*s)
		wr(u, 0, (uint8_t)*s++);
}

static void test_output_lines(void **state)
{
	struct serial8250 u;
	struct sink s = { 0 };
	unsigned int i;

	(void)state;
	serial8250_init(&u, &ops, &s);
	puts_uart(&u, "Linux version 6.1\r\n");
	assert_string_equal(s.out, "Linux version 6.1\n");
	assert_int_equal(s.writes, 1);
	puts_uart(&u, "a\rb");                  /* a lone CR stays */
	assert_int_equal(s.writes, 1);          /* no newline yet: buffered */
	serial8250_flush(&u);
	assert_string_equal(s.out, "Linux version 6.1\na\rb");
	for (i = 0; i < SERIAL8250_LINE_MAX + 10; i++)
		wr(&u, 0, 'x');
	assert_int_equal(s.len, strlen("Linux version 6.1\na\rb") + SERIAL8250_LINE_MAX);
	serial8250_fini(&u);                    /* flushes the rest */
	assert_int_equal(s.len, strlen("Linux version 6.1\na\rb") + SERIAL8250_LINE_MAX + 10);
	assert_int_equal(s.level, false);       /* IER was 0: no interrupt */
}

static void test_lsr_dlab_scratch(void **state)
{
	struct serial8250 u;
	struct sink s = { 0 };

	(void)state;
	serial8250_init(&u, &ops, &s);
	assert_int_equal(rd(&u, 5), 0x60);      /* THRE | TEMT, no data */
	wr(&u, 3, 0x83);                        /* DLAB, 8N1 */
	wr(&u, 0, 0x01);                        /* DLL: 115200 baud */
	wr(&u, 1, 0x00);                        /* DLM */
	assert_int_equal(rd(&u, 0), 0x01);
	assert_int_equal(rd(&u, 1), 0x00);
	assert_int_equal(s.len, 0);             /* divisor writes are not data */
	wr(&u, 3, 0x03);
	assert_int_equal(rd(&u, 3), 0x03);
	assert_int_equal(rd(&u, 1), 0x00);      /* IER untouched by DLM */
	wr(&u, 7, 0x5a);
	assert_int_equal(rd(&u, 7), 0x5a);
	wr(&u, 5, 0x00);                        /* LSR is read-only */
	assert_int_equal(rd(&u, 5), 0x60);
	assert_int_equal(rd(&u, 8 + 7), 0x5a);  /* register index wraps */
	assert_int_equal(rd(&u, 0), 0);         /* nothing received */
	serial8250_fini(&u);
}

/* What autoconfig() in Linux's 8250_port.c checks. */
static void test_linux_probe(void **state)
{
	struct serial8250 u;
	struct sink s = { 0 };

	(void)state;
	serial8250_init(&u, &ops, &s);
	wr(&u, 1, 0x00);
	assert_int_equal(rd(&u, 1) & 0x0f, 0x00);
	wr(&u, 1, 0x0f);
	assert_int_equal(rd(&u, 1) & 0x0f, 0x0f);
	wr(&u, 1, 0xff);
	assert_int_equal(rd(&u, 1), 0x0f);      /* only 4 bits exist */
	wr(&u, 1, 0x00);
	assert_int_equal(rd(&u, 2), 0x01);      /* no FIFO, no interrupt */
	wr(&u, 2, 0x01);                        /* FIFO on */
	assert_int_equal(rd(&u, 2) >> 6, 3);    /* 16550A */
	wr(&u, 4, 0x1a);                        /* loopback, OUT2, RTS */
	assert_int_equal(rd(&u, 6) & 0xf0, 0x90);       /* DCD, CTS */
	wr(&u, 4, 0x1f);
	assert_int_equal(rd(&u, 6) & 0xf0, 0xf0);
	wr(&u, 4, 0x08);
	assert_int_equal(rd(&u, 6) & 0xf0, 0xb0);       /* DCD, DSR, CTS */
	serial8250_fini(&u);
}

static void test_loopback_data(void **state)
{
	struct serial8250 u;
	struct sink s = { 0 };

	(void)state;
	serial8250_init(&u, &ops, &s);
	wr(&u, 4, 0x10);
	wr(&u, 1, 0x01);                        /* data-ready interrupt */
	assert_false(s.level);
	wr(&u, 0, 'Q');
	assert_int_equal(s.len, 0);             /* looped, not printed */
	assert_int_equal(rd(&u, 5) & 0x01, 0x01);
	assert_true(s.level);
	assert_int_equal(rd(&u, 2) & 0x0f, 0x04);
	assert_int_equal(rd(&u, 0), 'Q');
	assert_false(s.level);
	assert_int_equal(rd(&u, 5) & 0x01, 0);
	wr(&u, 0, 'R');
	wr(&u, 2, 0x03);                        /* FIFO reset drops it */
	assert_int_equal(rd(&u, 5) & 0x01, 0);
	assert_int_equal(serial8250_tx_bytes(&u), 2);
	serial8250_fini(&u);
}

static void test_thr_interrupt(void **state)
{
	struct serial8250 u;
	struct sink s = { 0 };

	(void)state;
	serial8250_init(&u, &ops, &s);
	wr(&u, 1, 0x02);                        /* THRI on: THR is empty */
	assert_true(s.level);
	assert_int_equal(s.rises, 1);
	assert_int_equal(rd(&u, 2), 0x02);      /* THRE identified... */
	assert_false(s.level);                  /* ...and acknowledged */
	assert_int_equal(rd(&u, 2), 0x01);
	puts_uart(&u, "ab");                    /* each byte: an edge */
	assert_int_equal(s.rises, 3);
	assert_true(s.level);
	wr(&u, 1, 0x00);
	assert_false(s.level);
	wr(&u, 0, 'c');
	assert_false(s.level);
	assert_int_equal(s.rises, 3);
	serial8250_fini(&u);
	assert_string_equal(s.out, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_lines),
		cmocka_unit_test(test_lsr_dlab_scratch),
		cmocka_unit_test(test_linux_probe),
		cmocka_unit_test(test_loopback_data),
		cmocka_unit_test(test_thr_interrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
