package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authSet is the public keys offered to one hop, in order: identity files
// first, then agent keys. They go into ONE publickey method because x/crypto
// tries each method name only once.
type authSet struct {
	signers []gossh.Signer
	tried   []string // for "auth as USER: ..." messages: paths and "agent (N keys)"
	notes   []string // why a configured identity was not offered
	agent   net.Conn
}

func (a *authSet) close() {
	if a.agent != nil {
		a.agent.Close()
	}
}

func loadAuth(h *hop) (*authSet, error) {
	a := &authSet{}
	var wantPubs [][]byte // public keys of the identity files, for IdentitiesOnly
	have := map[string]bool{}
	for _, id := range h.identities {
		data, err := os.ReadFile(id.path)
		if err != nil {
			if id.explicit {
				return nil, fmt.Errorf("identity file: %w", err)
			}
			if !errors.Is(err, os.ErrNotExist) {
				a.notes = append(a.notes, fmt.Sprintf("%s: %v", id.path, err))
			}
			continue
		}
		signer, err := gossh.ParsePrivateKey(data)
		var pme *gossh.PassphraseMissingError
		switch {
		case errors.As(err, &pme):
			// The agent may hold it decrypted; remember its public key.
			pub := pme.PublicKey
			if pub == nil {
				pub = readPub(id.path + ".pub")
			}
			if pub != nil {
				wantPubs = append(wantPubs, pub.Marshal())
			}
			a.notes = append(a.notes, id.path+": passphrase-protected (load it into ssh-agent)")
			continue
		case err != nil:
			if id.explicit {
				return nil, fmt.Errorf("identity file %s: %w", id.path, err)
			}
			a.notes = append(a.notes, fmt.Sprintf("%s: %v", id.path, err))
			continue
		}
		wantPubs = append(wantPubs, signer.PublicKey().Marshal())
		if cert, ok := readPub(id.path + "-cert.pub").(*gossh.Certificate); ok {
			if cs, err := gossh.NewCertSigner(cert, signer); err == nil {
				a.signers = append(a.signers, cs)
			}
		}
		if k := string(signer.PublicKey().Marshal()); !have[k] {
			have[k] = true
			a.signers = append(a.signers, signer)
			a.tried = append(a.tried, id.path)
		}
	}
	if h.agentSock != "" {
		conn, err := net.Dial("unix", h.agentSock)
		if err != nil {
			a.notes = append(a.notes, fmt.Sprintf("ssh-agent: %v", err))
			return a, nil
		}
		signers, err := agent.NewClient(conn).Signers()
		if err != nil {
			conn.Close()
			a.notes = append(a.notes, fmt.Sprintf("ssh-agent: %v", err))
			return a, nil
		}
		a.agent = conn
		n := 0
		for _, s := range signers {
			k := s.PublicKey().Marshal()
			if have[string(k)] {
				continue
			}
			if h.identitiesOnly && !containsBytes(wantPubs, k) {
				continue
			}
			have[string(k)] = true
			a.signers = append(a.signers, s)
			n++
		}
		if n > 0 {
			a.tried = append(a.tried, fmt.Sprintf("ssh-agent (%d keys)", n))
		}
	}
	return a, nil
}

func (a *authSet) describe() string {
	s := "no keys offered"
	if len(a.tried) > 0 {
		s = "tried " + strings.Join(a.tried, ", ")
	}
	if len(a.notes) > 0 {
		s += "; " + strings.Join(a.notes, "; ")
	}
	return s
}

func readPub(path string) gossh.PublicKey {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pub, _, _, _, err := gossh.ParseAuthorizedKey(data)
	if err != nil {
		return nil
	}
	return pub
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}
