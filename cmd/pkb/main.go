// Command pkb is the command-line client for the Patients Know Best (PKB)
// API built on the pkb-go library.
//
//	pkb demo                    every client type end to end against the offline simulator
//	pkb serve                   the offline simulator as a standalone server
//	pkb login                   User Client login over a loopback redirect
//	pkb token                   metadata of the current access token
//	pkb get Patient/<id>        read one resource
//	pkb search Observation k=v  search
//	pkb op <operationId> k=v    call any documented operation
//	pkb ops                     list the operations the configured client may call
//
// Every API request goes through the wrappers package, so scope and host
// checks happen before any network I/O. Configuration comes from flags and
// PKB_* environment variables; the client secret and the tethered refresh
// token are read from the environment only and are never printed.
//
// Exit status: 0 success, 1 the operation failed, 2 usage error, 3
// authentication or configuration error, 4 network error or service
// unavailable (worth retrying).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := c.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// cli is one invocation of the command, with its I/O injected so that tests
// can run it in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// openURL opens the login URL; nil means print it and try a browser.
	openURL func(ctx context.Context, url string) error
	// httpClient, if set, is the base client for API and token requests.
	httpClient *http.Client
	// serveReady, if set, is called with the base URL once pkb serve is
	// listening.
	serveReady func(baseURL string)

	// secrets is what must never be printed; stdout and stderr redact it.
	secrets *secrets
	// rawStdout bypasses the redaction, for the token --show-token prints.
	rawStdout io.Writer
	// closers release shared token-store connections at exit.
	closers []func()
}

const usageText = `pkb: command-line client for the Patients Know Best API

Usage:
  pkb demo   [--json] [--seed N]                 every client type end to end, offline
  pkb serve  [--addr 127.0.0.1:8080] [--seed N]  the offline PKB simulator
  pkb login  [--scope PATIENT|CLINICIAN|TEAMCOORD] [--no-browser]
  pkb token  [--show-token]
  pkb get    <Type>/<id>
  pkb search <Type> [param=value ...]
  pkb op     <operationId> [param=value ...] [--body file|-]
  pkb ops                                        operations the client may call
  pkb drift  [--statement file] [--json]         Facade CapabilityStatement drift vs facade.yaml
  pkb migrate                                    create the PostgreSQL token-store table
  pkb verify [--json] [--junit FILE] [--suggest FILE] [--allow-writes --test-patient NHS]
                                                 test the documents' assumptions against PKB

Configuration (flags override the environment):
  PKB_ENV            --env           sandbox (default) | uk-production
  PKB_BASE_URL       --base-url      a 'pkb serve' simulator instead of PKB, e.g. http://127.0.0.1:8080
  PKB_CLIENT_TYPE    --client-type   user (default) | system | customer | tethered
  PKB_CLIENT_ID      --client-id     the OAuth client id
  PKB_CLIENT_SECRET                  the client secret (environment only; never printed)
  PKB_ORG_ID         --org-id        organisation public id (System Client, X-Org-Public-Id)
  PKB_CUSTOMER       --customer      customer name, the sub-domain of the Customer FHIR API
  PKB_FHIR_VERSION   --fhir-version  r4 (default) | stu3: the Customer endpoint's FHIR version
  PKB_SCOPE          --scope         user type to log in as: PATIENT | CLINICIAN | TEAMCOORD
  PKB_TOKEN_STORE    --token-store   token file (default: <user config dir>/pkb/tokens/...), or a
                                     redis://, rediss:// or postgres:// URL shared by replicas
                                     (a URL with a password in the environment only; never printed)
  PKB_TOKEN_KEYS                     shared stores: AES-256 keys "id:base64,..." (first encrypts)
  PKB_TOKEN_SESSION                  shared stores: session name (default "default")
  PKB_REFRESH_TOKEN                  tethered client: the refresh token a Team Coordinator issued
                                     (environment only; used once, then rotated in the token store)

Flags may come before the command too: 'pkb --json get Patient/<id>'.
'pkb get' reads one resource; 'pkb get Patient' without an id is an error
(use 'pkb search Patient ...'). Public operations ('pkb ops' lists them,
e.g. 'pkb op capabilities') need no credentials.

Output: human-readable tables, or JSON on stdout with --json. Progress and
errors go to stderr.

Exit status:
  0  success
  1  the operation failed (an HTTP error from PKB, a failed demo step)
  2  usage error (unknown command or flag, bad arguments, undocumented operation)
  3  authentication or configuration error (missing or rejected credentials,
     login needed, operation not permitted for the client type)
  4  network error or service unavailable (unreachable host, timeout, token
     endpoint down, HTTP 429/502/503/504): worth retrying later

Run 'pkb <command> -h' for the flags of a command.
`

// run executes one command line and returns the exit status.
func (c *cli) run(ctx context.Context, args []string) int {
	// Defence in depth: whatever happens below, the secrets from the
	// environment, and the tokens seen later, never reach the terminal, and
	// neither do escape sequences a server slipped into its text.
	c.secrets = &secrets{}
	c.secrets.add(c.getenv(envClientSecret), c.getenv(envRefreshToken), strings.TrimSpace(c.getenv(envRefreshToken)), c.getenv(envTokenKeys))
	c.secrets.add(storeSecrets(c.getenv(envTokenStore))...)
	c.secrets.addUserinfo(c.getenv(envBaseURL))
	c.secrets.addUserinfo(c.getenv(envTokenStore))
	c.rawStdout = c.stdout
	c.stdout = &termWriter{w: c.stdout, secrets: c.secrets}
	c.stderr = &termWriter{w: c.stderr, secrets: c.secrets}
	defer func() {
		for _, f := range c.closers {
			f()
		}
	}()

	if len(args) == 0 {
		fmt.Fprint(c.stderr, usageText)
		return exitUsage
	}
	args = hoistFlags(args)
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usageText)
		return exitOK
	case "demo":
		err = c.cmdDemo(ctx, rest)
	case "serve":
		err = c.cmdServe(ctx, rest)
	case "login":
		err = c.cmdLogin(ctx, rest)
	case "token":
		err = c.cmdToken(ctx, rest)
	case "get":
		err = c.cmdGet(ctx, rest)
	case "search":
		err = c.cmdSearch(ctx, rest)
	case "op":
		err = c.cmdOp(ctx, rest)
	case "ops":
		err = c.cmdOps(ctx, rest)
	case "drift":
		err = c.cmdDrift(ctx, rest)
	case "verify":
		err = c.cmdVerify(ctx, rest)
	case "migrate":
		err = c.cmdMigrate(ctx, rest)
	default:
		err = usageErrorf("unknown command %q", cmd)
	}
	return c.finish(cmd, err)
}

// finish reports err (if any) on stderr and maps it to an exit status.
func (c *cli) finish(cmd string, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	code, msg := c.describe(err)
	var ee *exitError
	if errors.As(err, &ee) && ee.silent {
		return code
	}
	fmt.Fprintf(c.stderr, "pkb %s: %s\n", cmd, msg)
	if code == exitUsage {
		if cmd == "" || strings.HasPrefix(msg, "unknown command") {
			fmt.Fprintln(c.stderr, "Run 'pkb help' for usage.")
		} else {
			fmt.Fprintf(c.stderr, "Run 'pkb %s -h' for usage.\n", cmd)
		}
	}
	return code
}

// commands are the command names run accepts.
var commands = []string{"help", "demo", "serve", "login", "token", "get", "search", "op", "ops", "drift", "migrate"}

// boolFlags are the flags of any command that take no value: a flag
// before the command that is not one of them takes the next argument as
// its value, unless written --name=value.
var boolFlags = map[string]bool{"json": true, "all": true, "no-browser": true, "show-token": true, "h": true, "help": true}

// hoistFlags moves flags written before the command ("pkb --json get
// Patient/1") to just after it, where the command's flag set parses them
// as if written there; a flag the command lacks is still a usage error.
// Arguments that do not start with a flag are returned as they are.
func hoistFlags(args []string) []string {
	if len(args) == 0 || !strings.HasPrefix(args[0], "-") || args[0] == "-" {
		return args
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if !slices.Contains(commands, a) {
				return args
			}
			out := make([]string, 0, len(args))
			out = append(out, a)
			out = append(out, args[:i]...)
			return append(out, args[i+1:]...)
		}
		if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && !boolFlags[name] {
			i++ // its value
		}
	}
	return args
}
