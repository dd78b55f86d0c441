/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomicmatrix — message passing between processes through shared memory.
 * The umbrella header: include this one.
 */
#ifndef ATOMICMATRIX_H
#define ATOMICMATRIX_H

#include "atomicmatrix/version.h"
#include "atomicmatrix/error.h"
#include "atomicmatrix/arena.h"
#include "atomicmatrix/channel.h"

#endif
