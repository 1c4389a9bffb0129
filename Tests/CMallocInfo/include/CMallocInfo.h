#include <stddef.h>

/// Bytes the C allocator has handed out and not taken back (glibc's mallinfo2().uordblks + hblkhd).
size_t pacer_bytes_in_use(void);
