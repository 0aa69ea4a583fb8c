/*
 * serial8250.c - the 16550A UART model (see serial8250.h).
 *
 * Owns: struct serial8250's registers and its line buffer.
 * Locking: u->lock protects every register and the line buffer; the
 * ops->out and ops->irq callbacks run under it (so console text and the
 * interrupt level are reported in register order).  They must not call
 * back into the UART.
 * Invariants: THR is always empty (LSR.THRE and LSR.TEMT read 1);
 * irq_level is the level last given to ops->irq; line[] holds at most
 * SERIAL8250_LINE_MAX bytes of one unfinished line.
 *
 * Register semantics follow the National Semiconductor PC16550D data sheet
 * as Linux's drivers/tty/serial/8250 probes them: the IER scratch test, the
 * FIFO bits in IIR[7:6], the loopback test through MCR/MSR.  No library
 * models a UART, hence by hand (about the size of QEMU's hw/char/serial.c
 * register file, without its timing).
 */
#include <string.h>

#include "serial8250.h"

#define REG_RBR_THR     0
#define REG_IER         1
#define REG_IIR_FCR     2
#define REG_LCR         3
#define REG_MCR         4
#define REG_LSR         5
#define REG_MSR         6
#define REG_SCR         7

#define IER_RDI         0x01
#define IER_THRI        0x02
#define IIR_NO_INT      0x01
#define IIR_THRI        0x02
#define IIR_RDI         0x04
#define IIR_FIFO        0xc0
#define FCR_ENABLE      0x01
#define FCR_CLEAR_RX    0x02
#define LCR_DLAB        0x80
#define MCR_DTR         0x01
#define MCR_RTS         0x02
#define MCR_OUT1        0x04
#define MCR_OUT2        0x08
#define MCR_LOOP        0x10
#define LSR_DR          0x01
#define LSR_THRE        0x20
#define LSR_TEMT        0x40
#define MSR_CTS         0x10
#define MSR_DSR         0x20
#define MSR_RI          0x40
#define MSR_DCD         0x80

void serial8250_init(struct serial8250 *u, const struct serial8250_ops *ops,
		     void *ctx)
{
	memset(u, 0, sizeof(*u));
	u->ops = ops;
	u->ctx = ctx;
	u->mcr = MCR_OUT2;
	u->dll = 12;                    /* 9600 baud, as after a PC BIOS */
	pthread_mutex_init(&u->lock, NULL);
}

static void flush_locked(struct serial8250 *u)
{
	if (u->len && u->ops && u->ops->out)
		u->ops->out(u->ctx, u->line, u->len);
	u->len = 0;
}

void serial8250_flush(struct serial8250 *u)
{
	pthread_mutex_lock(&u->lock);
	flush_locked(u);
	pthread_mutex_unlock(&u->lock);
}

void serial8250_fini(struct serial8250 *u)
{
	serial8250_flush(u);
	pthread_mutex_destroy(&u->lock);
}

uint64_t serial8250_tx_bytes(struct serial8250 *u)
{
	uint64_t n;

	pthread_mutex_lock(&u->lock);
	n = u->tx_bytes;
	pthread_mutex_unlock(&u->lock);
	return n;
}

static void update_irq(struct serial8250 *u)
{
	bool level = ((u->ier & IER_RDI) && (u->lsr & LSR_DR)) ||
		     ((u->ier & IER_THRI) && u->thr_irq);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (u->ops && u->ops->irq)
		u->ops->irq(u->ctx, level);
}

/* A byte leaves through THR: to the line buffer, or back to RBR in
 * loopback.  "\r\n" (what the kernel's console sends) becomes "\n". */
static void transmit(struct serial8250 *u, uint8_t c)
{
	u->tx_bytes++;
	if (u->mcr & MCR_LOOP) {
		u->rbr = c;
		u->lsr |= LSR_DR;
		return;
	}
	if (c == '\n' && u->len && u->line[u->len - 1] == '\r')
		u->len--;
	u->line[u->len++] = (char)c;
	if (c == '\n' || u->len == sizeof(u->line))
		flush_locked(u);
}

static uint8_t read_iir(struct serial8250 *u)
{
	uint8_t v = IIR_NO_INT;

	if ((u->ier & IER_RDI) && (u->lsr & LSR_DR)) {
		v = IIR_RDI;
	} else if ((u->ier & IER_THRI) && u->thr_irq) {
		v = IIR_THRI;
		u->thr_irq = false;     /* reading IIR acknowledges THRE */
	}
	return v | ((u->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
}

static uint8_t read_msr(struct serial8250 *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	/* Loopback: the modem outputs come back on the inputs. */
	return ((u->mcr & MCR_RTS) ? MSR_CTS : 0) | ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
	       ((u->mcr & MCR_OUT1) ? MSR_RI : 0) | ((u->mcr & MCR_OUT2) ? MSR_DCD : 0);
}

static uint8_t reg_read(struct serial8250 *u, unsigned int reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (reg) {
	case REG_RBR_THR:
		if (dlab)
			return u->dll;
		v = (u->lsr & LSR_DR) ? u->rbr : 0;
		u->lsr &= (uint8_t)~LSR_DR;
		return v;
	case REG_IER:
		return dlab ? u->dlm : u->ier;
	case REG_IIR_FCR:
		return read_iir(u);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		return u->lsr | LSR_THRE | LSR_TEMT;
	case REG_MSR:
		return read_msr(u);
	default:
		return u->scr;
	}
}

static void reg_write(struct serial8250 *u, unsigned int reg, uint8_t v)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case REG_RBR_THR:
		if (dlab) {
			u->dll = v;
			return;
		}
		/* THR empties at once: the THRE interrupt drops and rises
		 * again, an edge for an edge-triggered PIC. */
		u->thr_irq = false;
		update_irq(u);
		transmit(u, v);
		u->thr_irq = true;
		return;
	case REG_IER:
		if (dlab) {
			u->dlm = v;
			return;
		}
		/* Enabling THRI while THR is empty raises it at once. */
		if ((v & IER_THRI) && !(u->ier & IER_THRI))
			u->thr_irq = true;
		u->ier = v & 0x0f;
		return;
	case REG_IIR_FCR:
		u->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX)
			u->lsr &= (uint8_t)~LSR_DR;
		return;
	case REG_LCR:
		u->lcr = v;
		return;
	case REG_MCR:
		u->mcr = v & 0x1f;
		return;
	case REG_SCR:
		u->scr = v;
		return;
	default:
		return;                 /* LSR and MSR are read-only */
	}
}

void serial8250_access(struct serial8250 *u, unsigned int reg, uint8_t *data,
		       bool is_write)
{
	reg &= SERIAL8250_NR_REGS - 1;
	pthread_mutex_lock(&u->lock);
	if (is_write)
		reg_write(u, reg, *data);
	else
		*data = reg_read(u, reg);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}
