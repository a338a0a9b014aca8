/* Network byte order reads and writes shared by the media parsers and builders. */
#ifndef DC_MEDIA_BYTES_H
#define DC_MEDIA_BYTES_H

#include <stdint.h>

static inline uint16_t dc__rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t dc__rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void dc__wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void dc__wr32(uint8_t *p, uint32_t v)
{
    dc__wr16(p, (uint16_t)(v >> 16));
    dc__wr16(p + 2, (uint16_t)v);
}

#endif
