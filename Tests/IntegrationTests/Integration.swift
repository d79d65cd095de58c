import Testing

/// Every integration suite runs real `syncd` processes; they run one at a
/// time so timing figures are not skewed by each other.
@Suite(.serialized) struct Integration {}
