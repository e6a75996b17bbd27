/* SPDX-License-Identifier: MIT */
/* Header-only: this file only makes the target a C library SwiftPM can build. */
#include "CDMABufExporter.h"
