package apply_test

import (
	"context"
	"crypto"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

func ExampleTrustRoot() {
	// A repository whose publisher rotated the release key in root 2, and
	// then signed version 2.0.0 with the new key. The program was built
	// with root 1.
	repoURL, root1, target, cleanup := exampleRootRepository()
	defer cleanup()
	store := filepath.Join(filepath.Dir(target), "trust") // writable only by this user

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := apply.Apply(ctx,
		apply.SourceRepo(repoURL),
		apply.Version("2.0.0"),
		apply.TrustRoot(root1), // shipped with the program, e.g. with go:embed
		apply.TrustStore(store),
		apply.CurrentVersion("1.0.0"),
		apply.TargetFile(target),
		apply.OS("linux"), apply.Arch("amd64"),
	)
	if err != nil {
		fmt.Println("update failed:", err)
		return
	}
	installed, _ := os.ReadFile(target)
	kept, _ := os.ReadFile(filepath.Join(store, "root.json"))
	root, _ := trust.NewRoot(kept)
	fmt.Printf("installed: %s", installed)
	fmt.Println("trusted root: version", root.Version())
	// Output:
	// installed: app version 2.0.0
	// trusted root: version 2
}

func ExampleChannel() {
	// The same repository, whose "stable" channel points to 2.0.0.
	repoURL, root1, target, cleanup := exampleRootRepository()
	defer cleanup()
	store := filepath.Join(filepath.Dir(target), "trust")
	opts := []apply.Option{
		apply.SourceRepo(repoURL),
		apply.Channel("stable"), // instead of Version
		apply.TrustRoot(root1),
		apply.TrustStore(store),
		apply.CurrentVersion("1.0.0"),
		apply.TargetFile(target),
		apply.OS("linux"), apply.Arch("amd64"),
	}

	rel, err := apply.Check(context.Background(), opts...)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("stable is", rel.Version)
	if err := apply.Apply(context.Background(), opts...); err != nil {
		fmt.Println("update failed:", err)
		return
	}
	installed, _ := os.ReadFile(target)
	fmt.Printf("installed: %s", installed)
	// Output:
	// stable is 2.0.0
	// installed: app version 2.0.0
}

// exampleRootRepository makes a repository served on 127.0.0.1 with roots
// 1 and 2 (root 2 replaces the release key), version 2.0.0 signed with the
// new release key, and a "stable" channel pointing to it; it installs
// version 1.0.0 in a temporary directory. It returns the repository URL,
// root 1, the installed file and a function that removes it all.
func exampleRootRepository() (repoURL string, root1 []byte, target string, cleanup func()) {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	dir, err := os.MkdirTemp("", "apply-example-")
	must(err)
	repo := filepath.Join(dir, "repo")
	must(os.MkdirAll(filepath.Join(repo, "channels"), 0o755))
	rootKey, oldRelease, newRelease, channelKey := genExampleKey(), genExampleKey(), genExampleKey(), genExampleKey()
	one := func(k testKey) trust.RoleKeys {
		return trust.RoleKeys{Keys: []crypto.PublicKey{k.priv.Public()}, Threshold: 1}
	}
	expires := time.Now().Add(365 * 24 * time.Hour)

	rootSigner, err := keys.NewSigner(rootKey.priv)
	must(err)
	d1 := trust.NewRootDraft(one(rootKey), one(oldRelease), one(channelKey), expires)
	_, err = d1.Sign(rootSigner)
	must(err)
	root1, err = d1.Marshal()
	must(err)
	pinned, err := trust.NewRoot(root1)
	must(err)
	d2 := trust.NextRoot(pinned)
	d2.Targets = one(newRelease)
	_, err = d2.Sign(rootSigner)
	must(err)
	root2, err := d2.Marshal()
	must(err)
	for name, data := range map[string][]byte{"1.root.json": root1, "2.root.json": root2, "root.json": root2} {
		must(os.WriteFile(filepath.Join(repo, name), data, 0o644))
	}

	_, err = publishTo(repo, "2.0.0", "linux", "amd64", []byte("app version 2.0.0\n"), newRelease)
	must(err)
	ch, err := channel.New("stable", "2.0.0", []string{"linux/amd64"}, 1, time.Now().Add(7*24*time.Hour))
	must(err)
	channelSigner, err := keys.NewSigner(channelKey.priv)
	must(err)
	_, err = ch.Sign(channelSigner)
	must(err)
	data, err := ch.Marshal()
	must(err)
	must(os.WriteFile(filepath.Join(repo, "channels", "stable.json"), data, 0o644))

	target = filepath.Join(dir, "app")
	must(os.WriteFile(target, []byte("app version 1.0.0\n"), 0o755))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(repo)))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	return srv.URL, root1, target, func() {
		srv.Close()
		os.RemoveAll(dir)
	}
}

func genExampleKey() testKey {
	k, err := generateKey()
	if err != nil {
		panic(err)
	}
	return k
}
