/// Text built scalar by scalar from a small alphabet of syntax and marks, for
/// the property tests of parsers that must work by scalar (§2.4):
/// `Gen.int(in: 0...(alphabet.count - 1)).array(of: 1...6).map(scalarText(from: alphabet))`.
func scalarText(from alphabet: [Unicode.Scalar]) -> @Sendable ([Int]) -> String {
    { indices in
        var scalars = String.UnicodeScalarView()
        for index in indices { scalars.append(alphabet[index]) }
        return String(scalars)
    }
}

/// Each text as its scalars, to compare by scalar rather than by `==`.
func scalarsOf(_ texts: [String]) -> [[Unicode.Scalar]] { texts.map { Array($0.unicodeScalars) } }
