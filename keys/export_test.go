package keys

// SetScryptWorkFactorForTest lowers the scrypt cost so tests run fast.
func SetScryptWorkFactorForTest(logN int) func() {
	old := scryptWorkFactor
	scryptWorkFactor = logN
	return func() { scryptWorkFactor = old }
}
