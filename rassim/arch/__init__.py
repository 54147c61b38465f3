"""Architecture encodings exchanged between the layers: ESR_ELx, kvm_run.arm_sea, CPER, signals.

Every encoding is bit- or byte-exact and works both ways; names follow the kernel headers.
"""

from rassim.arch.cper import *  # noqa: F403
from rassim.arch.cper import __all__ as _cper_all
from rassim.arch.esr import *  # noqa: F403
from rassim.arch.esr import __all__ as _esr_all
from rassim.arch.kvm import *  # noqa: F403
from rassim.arch.kvm import __all__ as _kvm_all
from rassim.arch.signals import *  # noqa: F403
from rassim.arch.signals import __all__ as _signals_all

__all__ = [*_esr_all, *_kvm_all, *_cper_all, *_signals_all]
