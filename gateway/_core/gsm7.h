/*
 * GSM 03.38 / 3GPP TS 23.038 default alphabet and its extension table, as C tables shared by the
 * Cython modules of gateway._core (each module calls gw_gsm7_init() once at import).
 *
 * The forward tables are written in code order so they can be read against the standard; the reverse
 * tables (code point -> septet) are derived from them at import, so the two can never disagree.
 *
 * Reverse-table values: 0x00-0x7F  a default-alphabet septet (1 septet)
 *                       0x100 | c  an extension character sent as ESC c (2 septets)
 *                       GW_GSM7_NONE  not representable in GSM-7
 */
#ifndef GW_GSM7_H
#define GW_GSM7_H

#include <stdint.h>

#define GW_GSM7_ESC 0x1B
#define GW_GSM7_EXT 0x100
#define GW_GSM7_NONE 0xFFFF

/* Default alphabet, septet -> Unicode. 0x1B (ESC) is not a character: 0xFFFF. */
static const uint16_t GW_GSM7_TO_UCS[128] = {
    /* 0x00 */ 0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC,
    /* 0x08 */ 0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5,
    /* 0x10 */ 0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8,
    /* 0x18 */ 0x03A3, 0x0398, 0x039E, 0xFFFF, 0x00C6, 0x00E6, 0x00DF, 0x00C9,
    /* 0x20 */ 0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027,
    /* 0x28 */ 0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F,
    /* 0x30 */ 0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037,
    /* 0x38 */ 0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F,
    /* 0x40 */ 0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047,
    /* 0x48 */ 0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F,
    /* 0x50 */ 0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057,
    /* 0x58 */ 0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7,
    /* 0x60 */ 0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067,
    /* 0x68 */ 0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F,
    /* 0x70 */ 0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077,
    /* 0x78 */ 0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};

/* Extension table (ESC + code), TS 23.038 6.2.1.1. */
#define GW_GSM7_EXT_COUNT 10
static const uint8_t GW_GSM7_EXT_CODE[GW_GSM7_EXT_COUNT] = {
    0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65,
};
static const uint16_t GW_GSM7_EXT_UCS[GW_GSM7_EXT_COUNT] = {
    0x000C, 0x005E, 0x007B, 0x007D, 0x005C, 0x005B, 0x007E, 0x005D, 0x007C, 0x20AC,
};

/* Derived at import. Only U+0000-U+00FF, U+0390-U+03AF and U+20AC hold GSM-7 characters. */
static uint16_t gw_gsm7_from_latin1[256];
static uint16_t gw_gsm7_from_greek[32];   /* U+0390 .. U+03AF */
static uint16_t gw_gsm7_ext_to_ucs[128];  /* 0 = unassigned extension code */

static void gw_gsm7_init(void) {
    int i;
    for (i = 0; i < 256; i++) gw_gsm7_from_latin1[i] = GW_GSM7_NONE;
    for (i = 0; i < 32; i++) gw_gsm7_from_greek[i] = GW_GSM7_NONE;
    for (i = 0; i < 128; i++) gw_gsm7_ext_to_ucs[i] = 0;
    for (i = 0; i < 128; i++) {
        uint16_t u = GW_GSM7_TO_UCS[i];
        if (u < 256) gw_gsm7_from_latin1[u] = (uint16_t)i;
        else if (u >= 0x0390 && u < 0x03B0) gw_gsm7_from_greek[u - 0x0390] = (uint16_t)i;
    }
    for (i = 0; i < GW_GSM7_EXT_COUNT; i++) {
        uint16_t u = GW_GSM7_EXT_UCS[i];
        if (u < 256) gw_gsm7_from_latin1[u] = (uint16_t)(GW_GSM7_EXT | GW_GSM7_EXT_CODE[i]);
        gw_gsm7_ext_to_ucs[GW_GSM7_EXT_CODE[i]] = u;
    }
}

/* Septet value for a code point: see the header comment for the encoding of the result. */
static inline uint16_t gw_gsm7_lookup(uint32_t cp) {
    if (cp < 256) return gw_gsm7_from_latin1[cp];
    if (cp - 0x0390u < 32u) return gw_gsm7_from_greek[cp - 0x0390u];
    if (cp == 0x20AC) return GW_GSM7_EXT | 0x65;
    return GW_GSM7_NONE;
}

#endif
