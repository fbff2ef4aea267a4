#pragma once
#include "mq/llm/offline.hpp"
