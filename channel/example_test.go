package channel_test

import (
	"crypto"
	"fmt"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// A publisher points "stable" at 0.7.0; a client verifies the channel with
// the timestamp keys of its trust root, after the last channel it saw (3).
func Example() {
	priv, _ := keys.Generate(keys.Ed25519)
	signer, _ := keys.NewSigner(priv)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	c, err := channel.New("stable", "0.7.0", []string{"linux/amd64", "darwin/arm64"}, 4, now.Add(7*24*time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := c.Sign(signer); err != nil {
		fmt.Println(err)
		return
	}
	data, err := c.Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}

	// In a client, the verifier is root.Timestamp() of its trust.Root.
	timestampKeys, _ := trust.NewKeys([]crypto.PublicKey{priv.Public()}, 1)
	got, err := channel.Parse(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := got.Verify(timestampKeys, now, "stable", 3); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Name(), got.Release(), got.Seq(), got.HasPlatform("linux", "amd64"))
	// Output: stable 0.7.0 4 true
}
