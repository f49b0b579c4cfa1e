/*
 * What every WebAssembly decoder's C source shares: fixed-width integer names (wasm32 has no
 * libc here, so no <stdint.h>) and the attribute that exports a function by name to the host.
 */
#ifndef FREESTANDING_H
#define FREESTANDING_H

typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long long u64;

#define EXPORT(name) __attribute__((export_name(#name)))

#endif
