package pgbackrest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"errors"
	"fmt"
)

// pgBackRest encrypts repository files with aes-256-cbc in OpenSSL's salted
// format: "Salted__", an 8-byte salt, then the ciphertext. Key and IV come
// from the passphrase and salt by OpenSSL's EVP_BytesToKey with SHA-1 and
// one iteration, and the plaintext is PKCS#7 padded.
var saltedMagic = []byte("Salted__")

// ErrNotEncrypted means data lacks the salted header: the repository is
// not encrypted, or no cipher pass is needed.
var ErrNotEncrypted = errors.New("not an encrypted pgBackRest file")

// IsEncrypted reports whether data starts with the salted header.
func IsEncrypted(data []byte) bool { return bytes.HasPrefix(data, saltedMagic) }

// Decrypt returns the plaintext of an encrypted repository file.
func Decrypt(data []byte, pass string) ([]byte, error) {
	if !IsEncrypted(data) {
		return nil, ErrNotEncrypted
	}
	if len(data) < 16+aes.BlockSize || (len(data)-16)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("encrypted file: %d bytes is not a whole number of blocks", len(data))
	}
	salt, body := data[8:16], data[16:]
	key, iv := bytesToKey([]byte(pass), salt)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(body))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, body)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize || !bytes.Equal(out[len(out)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("decryption failed: wrong cipher pass or corrupt file")
	}
	return out[:len(out)-pad], nil
}

// bytesToKey derives a 32-byte key and 16-byte IV the way OpenSSL's
// EVP_BytesToKey does with SHA-1 and a count of 1.
func bytesToKey(pass, salt []byte) (key, iv []byte) {
	var derived, prev []byte
	for len(derived) < 48 {
		h := sha1.New()
		h.Write(prev)
		h.Write(pass)
		h.Write(salt)
		prev = h.Sum(nil)
		derived = append(derived, prev...)
	}
	return derived[:32], derived[32:48]
}
