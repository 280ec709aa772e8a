// Encoder and decoder of 1 layer each.
#define LAYERS 1
#include "encoder_decoder_program.hpp"
