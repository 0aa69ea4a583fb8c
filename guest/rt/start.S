/*
 * start.S - guest entry point; the first byte of every guest image.
 *
 * Entry (guest_abi.h): CPL3, RDI = vCPU id, RSI = nr vCPUs, RSP = 0.
 * Each vCPU takes stack number RDI from hv_rt_stacks (.stacks, NOLOAD, not
 * zeroed: nobody needs zeroed stacks, and untouched stack pages then never
 * cost the guest a page).  vCPU 0 zeroes [__bss_start, __bss_end) exactly
 * once; the others spin on bss_ready, which lives in .data precisely so the
 * zeroing cannot clobber it.  Then every vCPU calls hv_rt_start(id, n) with
 * RSP 16-byte aligned as the SysV ABI requires at a call.
 */
#define HV_MAX_VCPUS      64
#define HV_RT_STACK_SHIFT 15      /* 32 KiB: HV_RT_STACK_SIZE in rt.h */

	.section .text.hv_entry, "ax", @progbits
	.code64
	.globl _start
	.type _start, @function
_start:
	cld
	cmp	$HV_MAX_VCPUS, %rdi
	jae	.Lbad_vcpu
	mov	%rdi, %r12		/* callee-saved: survive rep stosb */
	mov	%rsi, %r13
	lea	1(%rdi), %rax
	shl	$HV_RT_STACK_SHIFT, %rax
	lea	hv_rt_stacks(%rip), %rsp
	add	%rax, %rsp		/* top of stack r12; 4 KiB aligned */
	xor	%ebp, %ebp
	test	%r12, %r12
	jnz	.Lwait_bss

	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	rep stosb
	mfence				/* zeroing visible before the flag */
	movl	$1, bss_ready(%rip)
	jmp	.Lrun

.Lwait_bss:
	pause
	cmpl	$0, bss_ready(%rip)
	je	.Lwait_bss

.Lrun:
	mov	%r12, %rdi
	mov	%r13, %rsi
	call	hv_rt_start		/* does not return */
.Lbad_vcpu:
	ud2
	.size _start, . - _start

	.section .data
	.balign 4
bss_ready:
	.long	0

	.section .stacks, "aw", @nobits
	.balign 4096
	.globl hv_rt_stacks
hv_rt_stacks:
	.skip	HV_MAX_VCPUS << HV_RT_STACK_SHIFT
	.globl hv_rt_stacks_end
hv_rt_stacks_end:

	.section .note.GNU-stack, "", @progbits
