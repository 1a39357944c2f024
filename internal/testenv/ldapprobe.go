package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// anonymousBind is an LDAPv3 BindRequest, message ID 1, with an empty name
// and an empty simple password.
var anonymousBind = []byte{
	0x30, 0x0c, // LDAPMessage SEQUENCE
	0x02, 0x01, 0x01, // messageID 1
	0x60, 0x07, // [APPLICATION 0] BindRequest
	0x02, 0x01, 0x03, // version 3
	0x04, 0x00, // name ""
	0x80, 0x00, // simple ""
}

// ldapProbe makes an anonymous bind to the LDAP server at addr and checks
// that it succeeds: the server answers LDAP, not just TCP. The harness
// needs no LDAP library for that.
func ldapProbe(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(anonymousBind); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	// LDAPMessage { messageID, BindResponse { resultCode ENUMERATED, ... } }
	for _, want := range []byte{0x30, 0x02, 0x61} {
		tag, body, err := readBER(r, want != 0x02)
		if err != nil {
			return fmt.Errorf("bind response: %w", err)
		}
		if tag != want {
			return fmt.Errorf("bind response: tag %#x, want %#x", tag, want)
		}
		if want == 0x02 && (len(body) != 1 || body[0] != 1) {
			return fmt.Errorf("bind response: message ID %x, want 1", body)
		}
	}
	tag, code, err := readBER(r, false)
	if err != nil || tag != 0x0a || len(code) != 1 {
		return fmt.Errorf("bind response: no result code (%v)", err)
	}
	if code[0] != 0 {
		return fmt.Errorf("anonymous bind: LDAP result code %d", code[0])
	}
	return nil
}

// readBER reads one BER tag and definite length, and the contents unless
// constructed is set (then the caller reads the contents as elements).
func readBER(r *bufio.Reader, constructed bool) (tag byte, body []byte, err error) {
	if tag, err = r.ReadByte(); err != nil {
		return 0, nil, err
	}
	l, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n := int(l)
	if l&0x80 != 0 { // long form: the low bits count the length's bytes
		if l&0x7f == 0 || l&0x7f > 4 {
			return 0, nil, errors.New("unsupported BER length")
		}
		n = 0
		for range l & 0x7f {
			b, err := r.ReadByte()
			if err != nil {
				return 0, nil, err
			}
			n = n<<8 | int(b)
		}
	}
	if constructed {
		return tag, nil, nil
	}
	if n > 1<<16 {
		return 0, nil, errors.New("BER element too long")
	}
	body = make([]byte, n)
	_, err = io.ReadFull(r, body)
	return tag, body, err
}
