package gotoolchain

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/goprov/goprov/transport"
)

// Signatures are checked with gpgv (GnuPG's verify-only tool) on the
// controller: no Go OpenPGP library is a dependency of goprov, and gpgv is
// the tool Debian's own apt trusts for this. gpgv reads binary keyrings
// only, so the armored gpg_keyring is decoded here first.

// Dearmor decodes every "PGP PUBLIC KEY BLOCK" of an ASCII-armored text
// (checking each block's CRC-24) and returns the concatenated packets.
func Dearmor(text []byte) ([]byte, error) {
	const begin, end = "-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----END PGP PUBLIC KEY BLOCK-----"
	var out []byte
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	blocks := 0
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != begin {
			continue
		}
		// Armor headers ("Comment: …") end at the first blank line.
		inHeaders := true
		var b64 strings.Builder
		crc := ""
		closed := false
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if inHeaders {
				if line == "" {
					inHeaders = false
				} else if !strings.Contains(line, ": ") {
					inHeaders = false // no headers at all
					b64.WriteString(line)
				}
				continue
			}
			if line == end {
				closed = true
				break
			}
			if strings.HasPrefix(line, "=") && len(line) == 5 {
				crc = line[1:]
				continue
			}
			b64.WriteString(line)
		}
		if !closed {
			return nil, errors.New("armored key block without its END line")
		}
		data, err := base64.StdEncoding.DecodeString(b64.String())
		if err != nil {
			return nil, fmt.Errorf("armored key block: %w", err)
		}
		if len(data) == 0 {
			return nil, errors.New("empty armored key block")
		}
		if crc != "" {
			want, err := base64.StdEncoding.DecodeString(crc)
			if err != nil || len(want) != 3 {
				return nil, errors.New("armored key block: bad checksum line")
			}
			c := crc24(data)
			if byte(c>>16) != want[0] || byte(c>>8) != want[1] || byte(c) != want[2] {
				return nil, errors.New("armored key block: checksum mismatch (the text was altered)")
			}
		}
		out = append(out, data...)
		blocks++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if blocks == 0 {
		return nil, errors.New("no \"-----BEGIN PGP PUBLIC KEY BLOCK-----\" found")
	}
	return out, nil
}

// crc24 is OpenPGP's armor checksum (RFC 4880 §6.1).
func crc24(data []byte) uint32 {
	crc := uint32(0xB704CE)
	for _, b := range data {
		crc ^= uint32(b) << 16
		for i := 0; i < 8; i++ {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1864CFB
			}
		}
	}
	return crc & 0xFFFFFF
}

// VerifySignature checks a detached signature of the file data with gpgv
// against keyring (binary OpenPGP keys). It succeeds only when gpgv exits 0
// AND reports a good, valid signature. label names the file in messages.
func VerifySignature(ctx context.Context, keyring []byte, data, sig, label string) error {
	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		return fmt.Errorf("signature check needs gpgv on the controller (Debian: apt-get install gpgv): %w", err)
	}
	home, err := os.MkdirTemp("", "goprov-gpgv-")
	if err != nil {
		return fmt.Errorf("signature check: %w", err)
	}
	defer os.RemoveAll(home)
	kr := filepath.Join(home, "keyring.gpg")
	if err := os.WriteFile(kr, keyring, 0o600); err != nil {
		return fmt.Errorf("signature check: %w", err)
	}
	var status, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, gpgv, "--homedir", home, "--status-fd", "1", "--keyring", kr, "--", sig, data)
	cmd.Stdout, cmd.Stderr = &status, &stderr
	cmd.Env = transport.ChildEnv()
	runErr := cmd.Run()
	good, valid := false, false
	for _, line := range strings.Split(status.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "[GNUPG:] GOODSIG "):
			good = true
		case strings.HasPrefix(line, "[GNUPG:] VALIDSIG "):
			valid = true
		}
	}
	if runErr != nil || !good || !valid {
		msg := strings.TrimSpace(stderr.String())
		if runErr != nil {
			msg = fmt.Sprintf("%v: %s", runErr, msg)
		}
		return fmt.Errorf("bad OpenPGP signature %s.asc: %s", label, msg)
	}
	return nil
}
