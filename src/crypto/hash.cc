#include "crypto/hash.h"
