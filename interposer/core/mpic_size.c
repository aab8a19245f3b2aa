/* Sizes in bytes as the MPICOMM_* settings write them (mpic.h). */
#include <stdlib.h>
#include "mpic.h"

int mpic_parse_size(const char *text, long long *bytes)
{
    char *end = NULL;
    long long n;

    if (!text || !*text)
        return 0;
    n = strtoll(text, &end, 10);
    if (*end == 'k' || *end == 'K')
        n <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        n <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        n <<= 30, end++;
    if (*end)
        return 0;
    *bytes = n;
    return 1;
}
