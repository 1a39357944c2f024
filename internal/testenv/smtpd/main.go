// Command smtpd is a real SMTP server for Tenure's tests, built on
// emersion/go-smtp: STARTTLS with the given certificate, AUTH PLAIN (only
// after STARTTLS, and required before MAIL), each accepted message
// written to a file of its own in the mail directory, so a test reads
// back what Tenure sent. testenv.SMTP compiles and starts it as a process
// of its own on a free loopback port, as it does redis-server or slapd;
// nothing in it is for production.
//
// Usage: smtpd -listen 127.0.0.1:PORT -cert FILE -key FILE -user NAME
// -password SECRET -maildir DIR -pidfile FILE
//
// Each message is DIR/<n>.eml: an "X-Envelope-From:" and one
// "X-Envelope-To:" line per recipient, then the message as received. It
// writes its pid file once it listens and stops on SIGTERM or SIGINT.
package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "smtpd:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "host:port")
	certFile := flag.String("cert", "", "server certificate (PEM)")
	keyFile := flag.String("key", "", "server key (PEM)")
	user := flag.String("user", "", "the one user AUTH PLAIN accepts")
	password := flag.String("password", "", "its password")
	maildir := flag.String("maildir", "", "directory the messages are written to")
	pidFile := flag.String("pidfile", "", "pid file, written once listening")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return err
	}
	be := &backend{user: *user, password: *password, dir: *maildir}
	s := smtp.NewServer(be)
	s.Addr = *listen
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	s.MaxMessageBytes = 10 << 20
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; s.Close() }()
	if err := s.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return err
	}
	return nil
}

type backend struct {
	user, password, dir string
	mu                  sync.Mutex
	n                   int
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, conn: c}, nil
}

type session struct {
	b      *backend
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errTLSRequired  = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism"}
	errBadAuth      = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
)

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	if _, ok := s.conn.TLSConnectionState(); !ok {
		return nil, errTLSRequired
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.b.user || password != s.b.password {
			return errBadAuth
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return errAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.authed {
		return errAuthRequired
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "X-Envelope-From: %s\r\n", s.from)
	for _, t := range s.to {
		fmt.Fprintf(&buf, "X-Envelope-To: %s\r\n", t)
	}
	buf.Write(body)
	s.b.mu.Lock()
	s.b.n++
	name := filepath.Join(s.b.dir, fmt.Sprintf("%06d.eml", s.b.n))
	s.b.mu.Unlock()
	// Written aside and renamed, so a reader never sees half a message.
	if err := os.WriteFile(name+".tmp", buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(name+".tmp", name)
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }
