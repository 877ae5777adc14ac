// Exposes OpenSSL libcrypto (EVP signatures, HMAC, key parsing) to Swift.
#ifndef SWITCHBOARD_CCRYPTO_SHIM_H
#define SWITCHBOARD_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#endif
