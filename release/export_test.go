package release

import "encoding/json"

// ParseAsOlderClient parses data as a safeupdate client from before
// patches did: "patches" is an unknown member, kept as its raw bytes in
// extra and signed as such.
func ParseAsOlderClient(data []byte) (*Release, error) {
	r, err := Parse(data)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, err
	}
	if raw, ok := members["patches"]; ok {
		r.Patches = nil
		if r.extra == nil {
			r.extra = map[string]json.RawMessage{}
		}
		r.extra["patches"] = raw
	}
	return r, nil
}
