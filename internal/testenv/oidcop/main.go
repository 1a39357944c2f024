// Command oidcop is a real OpenID Provider for Tenure's tests, built on
// zitadel/oidc v3 (its op package, with the module's example storage and
// login page): discovery, authorization code with PKCE, a username and
// password login form, signed ID tokens, userinfo. testenv.OIDC compiles
// and starts it as a process of its own on a free loopback port, as it
// does redis-server or slapd; nothing in it is for production.
//
// Usage: oidcop -listen 127.0.0.1:PORT -config FILE -pidfile FILE
//
// The config file is JSON: {"users": [...], "clients": [...]} (see
// testenv.OIDCUser and testenv.OIDCClient). The issuer is
// http://LISTEN. It writes its pid file once it serves, and stops on
// SIGTERM or SIGINT.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

type config struct {
	Users []struct {
		ID, UserName, Password, Email, FirstName, LastName string
	} `json:"users"`
	Clients []struct {
		ID, Secret   string
		RedirectURIs []string
	} `json:"clients"`
}

// users is the provider's user store, from the config file.
type users map[string]*storage.User

func (u users) GetUserByID(id string) *storage.User { return u[id] }

func (u users) GetUserByUsername(name string) *storage.User {
	for _, v := range u {
		if v.Username == name {
			return v
		}
	}
	return nil
}

func (u users) ExampleClientID() string { return "" }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oidcop:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "host:port")
	cfgPath := flag.String("config", "", "JSON file of users and clients")
	pidFile := flag.String("pidfile", "", "pid file, written once serving")
	flag.Parse()
	raw, err := os.ReadFile(*cfgPath)
	if err != nil {
		return err
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	us := users{}
	for _, u := range cfg.Users {
		us[u.ID] = &storage.User{ID: u.ID, Username: u.UserName, Password: u.Password, Email: u.Email,
			EmailVerified: true, FirstName: u.FirstName, LastName: u.LastName}
	}
	clients := map[string]*storage.Client{}
	for _, c := range cfg.Clients {
		clients[c.ID] = storage.WebClient(c.ID, c.Secret, c.RedirectURIs...)
	}
	ln, err := net.Listen("tcp", *listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		// testenv's daemon looks for these words to try another port.
		return fmt.Errorf("Address already in use: %w", err)
	} else if err != nil {
		return err
	}
	issuer := "http://" + ln.Addr().String()
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelWarn}))
	router := exampleop.SetupServer(issuer, storage.NewStorageWithClients(us, clients), log, false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
