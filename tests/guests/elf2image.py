#!/usr/bin/env python3
"""Checks a test-guest ELF (a static PIE linked at 0) and writes its flat arm64 `Image`.

Usage: elf2image.py <elf> [<out.bin>]

Checks: ELF64 little-endian AArch64 ET_DYN with its lowest PT_LOAD at 0; every relocation is
R_AARCH64_RELATIVE (symbol 0), inside the image and outside executable sections; the Image
header (Documentation/arch/arm64/booting.rst) has magic ARM\\x64, text_offset 0, flags bit 3
("anywhere") and image_size covering every segment including .bss. The flat image is the PT_LOAD
segments with file contents at their p_paddr (the same conversion as `cargo xtask build`).
Exits non-zero with a message on the first failed check.
"""
import struct
import sys

PT_LOAD = 1
SHT_RELA, SHT_REL, SHT_RELR = 4, 9, 19
SHF_EXECINSTR = 0x4
ET_DYN, EM_AARCH64 = 3, 183
R_AARCH64_RELATIVE = 1027


def fail(msg):
    sys.exit(f"elf2image: {msg}")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    elf = open(sys.argv[1], "rb").read()
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        fail("not a little-endian ELF64 file")
    e_type, e_machine = struct.unpack_from("<HH", elf, 16)
    if e_machine != EM_AARCH64:
        fail(f"e_machine {e_machine} is not AArch64")
    if e_type != ET_DYN:
        fail(f"e_type {e_type} is not ET_DYN: not linked as a PIE")
    e_phoff, e_shoff = struct.unpack_from("<QQ", elf, 32)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", elf, 54)

    loads = []
    for i in range(e_phnum):
        p_type, _, p_off, _, p_paddr, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", elf, e_phoff + i * e_phentsize)
        if p_type == PT_LOAD:
            loads.append((p_off, p_paddr, p_filesz, p_memsz))
    if not loads or min(l[1] for l in loads) != 0:
        fail("the lowest PT_LOAD segment is not at 0")
    mem_end = max(l[1] + l[3] for l in loads)

    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, e_shoff + i * e_shentsize)
                for i in range(e_shnum)]
    code = [(s[3], s[3] + s[5]) for s in sections if s[2] & SHF_EXECINSTR]
    nrel = 0
    for sh_name, sh_type, _, _, sh_off, sh_size, _, _, _, sh_entsize in sections:
        if sh_type in (SHT_REL, SHT_RELR):
            fail(f"SHT_REL/SHT_RELR section (type {sh_type}): only RELA is applied at boot")
        if sh_type != SHT_RELA:
            continue
        for off in range(sh_off, sh_off + sh_size, 24):
            r_offset, r_info, r_addend = struct.unpack_from("<QQq", elf, off)
            if r_info != R_AARCH64_RELATIVE:
                fail(f"relocation at {r_offset:#x}: type {r_info & 0xffffffff}, symbol "
                     f"{r_info >> 32}; only R_AARCH64_RELATIVE is supported")
            if r_offset + 8 > mem_end or not 0 <= r_addend <= mem_end:
                fail(f"relocation at {r_offset:#x} (addend {r_addend:#x}) outside the image")
            if any(lo <= r_offset < hi for lo, hi in code):
                fail(f"relocation at {r_offset:#x} patches code")
            nrel += 1

    out = bytearray()
    for p_off, p_paddr, p_filesz, _ in loads:
        if p_filesz:
            if len(out) < p_paddr + p_filesz:
                out.extend(bytes(p_paddr + p_filesz - len(out)))
            out[p_paddr:p_paddr + p_filesz] = elf[p_off:p_off + p_filesz]

    text_offset, image_size, flags = struct.unpack_from("<QQQ", out, 8)
    if out[0x38:0x3c] != b"ARM\x64":
        fail("no arm64 Image magic at 0x38")
    if text_offset != 0 or not flags & (1 << 3):
        fail(f"text_offset {text_offset:#x} / flags {flags:#x}: not placeable anywhere")
    if image_size < mem_end:
        fail(f"image_size {image_size:#x} < end of the last segment {mem_end:#x}")
    print(f"{sys.argv[1]}: {nrel} R_AARCH64_RELATIVE relocations, file {len(out):#x} bytes, "
          f"image_size {image_size:#x}")
    if len(sys.argv) == 3:
        open(sys.argv[2], "wb").write(out)


if __name__ == "__main__":
    main()
