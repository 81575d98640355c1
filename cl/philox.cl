/* Philox4x32-10, the same function as include/clnet/philox.h, so the
 * OpenCL and CPU backends draw the same dropout masks. */
uint clnet_philox(ulong seed, uint stream, ulong step, uint index)
{
    uint c0 = index, c1 = stream, c2 = (uint)step, c3 = (uint)(step >> 32);
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        const uint lo0 = 0xD2511F53u * c0, hi0 = mul_hi(0xD2511F53u, c0);
        const uint lo1 = 0xCD9E8D57u * c2, hi1 = mul_hi(0xCD9E8D57u, c2);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c0;
}

float clnet_philox_uniform(ulong seed, uint stream, ulong step, uint index)
{
    return (float)(clnet_philox(seed, stream, step, index) >> 8) *
           (1.0f / 16777216.0f);
}
