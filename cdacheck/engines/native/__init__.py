"""Native engine for cdacheck's own packs: their XPath 2.0 translated to lxml XPath 1.0.

:func:`compile_native` translates a pack (or raises :class:`Untranslatable`, and the pack
then runs through Saxon); :class:`NativeSchematron` runs it on a document's lxml tree and
returns the same hits as the Saxon path (see engine.py, translate.py, functions.py).
"""

from cdacheck.engines.native.engine import NativeSchematron, compile_native
from cdacheck.engines.native.translate import Untranslatable

__all__ = ["NativeSchematron", "Untranslatable", "compile_native"]
