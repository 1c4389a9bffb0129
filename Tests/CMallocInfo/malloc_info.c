#include <malloc.h>
#include "CMallocInfo.h"

size_t pacer_bytes_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}
