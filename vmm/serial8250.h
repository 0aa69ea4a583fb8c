/*
 * serial8250.h - a 16550A-compatible UART (the PC's COM1 at port 0x3f8),
 * enough for Linux's 8250 driver, its serial console and earlycon:
 * THR/RBR, IER, IIR/FCR, LCR (DLAB), MCR (loopback), LSR, MSR, SCR, the
 * divisor latch, and the THR-empty / data-ready interrupts.
 *
 * Transmitted bytes go to an output callback a line at a time (a "\r\n"
 * becomes "\n"); nothing is ever received from the host (RBR reads 0
 * outside loopback).  The interrupt line is reported through a callback
 * whenever its level changes.  Transmission is instantaneous: THR is
 * always empty again by the time the write returns.
 */
#ifndef HVSWAP_VMM_SERIAL8250_H
#define HVSWAP_VMM_SERIAL8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL8250_COM1_PORT    0x3f8u
#define SERIAL8250_COM1_IRQ     4u
#define SERIAL8250_NR_REGS      8u
#define SERIAL8250_LINE_MAX     256u

struct serial8250_ops {
	/* Console text (raw guest bytes; the sink escapes them). */
	void (*out)(void *ctx, const char *p, size_t n);
	/* The interrupt line changed to `level`. */
	void (*irq)(void *ctx, bool level);
};

struct serial8250 {
	const struct serial8250_ops *ops;
	void *ctx;
	pthread_mutex_t lock;
	/* protected by lock */
	uint8_t ier, lcr, mcr, lsr, scr, fcr, dll, dlm;
	uint8_t rbr;                    /* loopback only */
	bool thr_irq;                   /* THR-empty interrupt pending */
	bool irq_level;                 /* as last reported to ops->irq */
	char line[SERIAL8250_LINE_MAX];
	size_t len;
	uint64_t tx_bytes;
};

void serial8250_init(struct serial8250 *u, const struct serial8250_ops *ops,
		     void *ctx);
/* Flush a partial line and release the lock. */
void serial8250_fini(struct serial8250 *u);
/* One byte-wide access to register `reg` (0..7, the offset from the base
 * port).  Reads fill *data.  Safe from any thread. */
void serial8250_access(struct serial8250 *u, unsigned int reg, uint8_t *data,
		       bool is_write);
/* Send a partial line now (at exit). */
void serial8250_flush(struct serial8250 *u);
uint64_t serial8250_tx_bytes(struct serial8250 *u);

#endif
