package trust_test

import (
	"crypto"
	"fmt"
	"time"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// A publisher writes root 1, then rotates the release key in root 2; a
// client pinning root 1 walks to root 2 and checks its expiry.
func ExampleRoot_Update() {
	newKey := func() (crypto.PublicKey, func(*trust.RootDraft)) {
		priv, _ := keys.Generate(keys.Ed25519)
		s, _ := keys.NewSigner(priv)
		return priv.Public(), func(d *trust.RootDraft) { d.Sign(s) }
	}
	rootKey, signRoot := newKey()
	oldRelease, _ := newKey()
	newRelease, _ := newKey()
	channelKey, _ := newKey()
	one := func(k crypto.PublicKey) trust.RoleKeys {
		return trust.RoleKeys{Keys: []crypto.PublicKey{k}, Threshold: 1}
	}
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	d1 := trust.NewRootDraft(one(rootKey), one(oldRelease), one(channelKey), expires)
	signRoot(d1)
	root1JSON, _ := d1.Marshal()

	pinned, err := trust.NewRoot(root1JSON)
	if err != nil {
		fmt.Println(err)
		return
	}
	d2 := trust.NextRoot(pinned)
	d2.Targets = one(newRelease)
	d2.Expires = expires.AddDate(1, 0, 0)
	signRoot(d2) // the root key is in both roots, so it signs for both
	root2JSON, _ := d2.Marshal()

	latest, err := pinned.Update(root2JSON)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("root version", latest.Version())
	fmt.Println("fresh in 2030:", latest.CheckExpiry(time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)) == nil)
	fmt.Println(trust.RootFileName(latest.Version()))
	// Output:
	// root version 2
	// fresh in 2030: true
	// 2.root.json
}
