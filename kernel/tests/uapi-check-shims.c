// SPDX-License-Identifier: GPL-2.0
/* The shims' hand-typed uapi, with no kernel header that would hide it. */
#include "CDMABufUAPI.h"
#include "CDMABufDRMUAPI.h"
#include "uapi-check.h"

const unsigned long long uapi_shims[] = { UAPI_FACTS(UAPI_VALUE) };
