package pbzip2

// bzip2 uses CRC-32 with the IEEE polynomial but processes bits
// most-significant first, so hash/crc32 (which is bit-reflected) does not
// apply directly. crcTab[k][b] is the CRC register contribution of byte b
// followed by k zero bytes; eight tables let updateCRC consume eight bytes
// per step ("slicing-by-8"), which keeps the checksum a small fraction of
// decoding time.
var crcTab [8][256]uint32

func init() {
	const poly = 0x04C11DB7
	for i := range crcTab[0] {
		crc := uint32(i) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ poly
			} else {
				crc <<= 1
			}
		}
		crcTab[0][i] = crc
	}
	for k := 1; k < len(crcTab); k++ {
		for i := range crcTab[k] {
			v := crcTab[k-1][i]
			crcTab[k][i] = v<<8 ^ crcTab[0][v>>24]
		}
	}
}

// updateCRC returns the bzip2 CRC of the data whose CRC is val followed by b.
// The CRC of no data is 0.
func updateCRC(val uint32, b []byte) uint32 {
	crc := ^val
	for len(b) >= 8 {
		crc ^= uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		crc = crcTab[7][crc>>24] ^ crcTab[6][crc>>16&0xff] ^
			crcTab[5][crc>>8&0xff] ^ crcTab[4][crc&0xff] ^
			crcTab[3][b[4]] ^ crcTab[2][b[5]] ^ crcTab[1][b[6]] ^ crcTab[0][b[7]]
		b = b[8:]
	}
	for _, v := range b {
		crc = crcTab[0][byte(crc>>24)^v] ^ crc<<8
	}
	return ^crc
}
