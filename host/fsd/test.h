/* fsd's C tests: the house harness (CHECK, CHECK_STR, test_finish, the seeded pick). */
#ifndef BOXLITE_FSD_TEST_H
#define BOXLITE_FSD_TEST_H

#include "../../guest/test.h"

#define FUZZ_ROUNDS 20000

#endif
