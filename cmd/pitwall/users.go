package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/web"
)

// runUsers adds people who sign in to the pages and the API.
func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, `usage: pitwall users add EMAIL --role owner|shop|admin [--name NAME] [--owner ID] [--shop ID] [--db PATH]
       pitwall users add NAME --role server [--db PATH]

Adds a user who signs in to the pages and the API. The password is read from the
first line of standard input (the password rule: at least 10 characters, not a
common password, not the email) and kept only as a bcrypt hash. An operator's user
counts as confirmed. An owner user gets a new owner record named --name unless
--owner names an existing one; a shop user needs --shop, the id of a stored shop.
Owners and shops can also sign up themselves on the server's /signup page.

--role server adds a server or tool (pitwall tail, another pitwall server) that
reads every device through the embedded broker: it prints the new secret once;
give it to the tool with --secret-file or PITWALL_SECRET. A running server takes
it within embedded_broker.revocation_check (5 seconds by default).`)
			return flag.ErrHelp
		}
		return usageError{"name what to do: add"}
	}
	rest := args[1:]
	var email string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		email, rest = rest[0], rest[1:]
	}
	fs := newFlags("users add", "EMAIL --role ROLE [flags]", "Adds a user; see `pitwall users --help`.", stdout)
	db := fs.String("db", defaultDB, "database file")
	role := fs.String("role", "", "owner, shop, admin, or server (a broker user)")
	name := fs.String("name", "", "owner: the new owner's name")
	owner := fs.String("owner", "", "owner: an existing owner id")
	shop := fs.String("shop", "", "shop: the shop's id")
	if err := parse(fs, rest); err != nil {
		return err
	}
	if *role == "server" {
		return addBrokerUser(ctx, *db, email, stdout)
	}
	switch {
	case !strings.Contains(email, "@"):
		return usageError{"users add needs an email address"}
	case *role != "owner" && *role != "shop" && *role != "admin":
		return usageError{fmt.Sprintf("--role %q: want owner, shop, admin or server", *role)}
	case *role == "shop" && *shop == "":
		return usageError{"a shop user needs --shop SHOP_ID"}
	}
	pw, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	pw = strings.TrimRight(pw, "\r\n")
	hash, err := web.HashPassword(pw, email, bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("the password on standard input: %w", err)
	}
	st, err := openExisting(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	u := store.User{Email: email, PasswordHash: hash, Role: *role, ShopID: *shop, Name: *name}
	if *role == "owner" {
		u.OwnerID = *owner
		if u.OwnerID == "" {
			o, err := st.AddOwner(ctx, store.Owner{Email: email, Name: *name})
			if err != nil {
				return err
			}
			u.OwnerID = o.ID
		}
	}
	if *role == "shop" {
		if _, err := st.Shop(ctx, *shop); err != nil {
			return err
		}
	}
	u, err = st.AddUser(ctx, u)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s user %s added (id %s", u.Role, u.Email, u.ID)
	if u.OwnerID != "" {
		fmt.Fprintf(stdout, ", owner %s", u.OwnerID)
	}
	fmt.Fprintln(stdout, ")")
	return nil
}

// addBrokerUser adds a reader of every device to the embedded broker.
func addBrokerUser(ctx context.Context, db, name string, stdout io.Writer) error {
	if err := wire.ValidDeviceID(name); err != nil {
		return usageError{fmt.Sprintf("a server user's name: %v", err)}
	}
	st, err := openExisting(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, err := st.AddBrokerUser(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "server user %s added; its secret (shown only now):\n\n  %s\n\nFor example: echo SECRET > tail.secret; chmod 600 tail.secret\n  pitwall tail --broker tcp://HOST:1883 --user %s --secret-file tail.secret\n", name, secret, name)
	return nil
}
