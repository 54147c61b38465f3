"""Architecture encodings exchanged between the layers, one module each.

- :mod:`rassim.arch.esr`: ESR_ELx fields, builders and the kernel's predicates;
- :mod:`rassim.arch.kvm`: ``kvm_run.arm_sea`` and the exit-to-user UAPI constants;
- :mod:`rassim.arch.cper`: UEFI CPER records as QEMU's hw/acpi/ghes.c builds them;
- :mod:`rassim.arch.signals`: SIGBUS codes and ``memory_failure()`` results.

Every encoding is bit- or byte-exact and works both ways; names follow the kernel headers.
"""
