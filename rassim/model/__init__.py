"""The model layers: memory node, CPU, EL3 firmware, hypervisor, VMM, guest."""
