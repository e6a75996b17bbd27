#if os(Linux)
/// Where the pixels of one image are: its size, DRM format and modifier, and for each memory
/// plane the buffer, offset and stride. The one description that V4L2 capture and KMS scanout
/// share, so that both sides agree on every byte.
///
/// ```swift
/// let layout = try ImageLayout.packed(width: 1280, height: 720, format: .xrgb8888)
/// try layout.validate(bufferSizes: [buffer.size])   // before any ioctl
/// ```
public struct ImageLayout: Hashable, Sendable, CustomStringConvertible {
    /// One memory plane of an image.
    public struct Plane: Hashable, Sendable {
        /// Which buffer holds the plane: an index into the buffers given with the layout.
        public var buffer: Int
        /// Bytes from the buffer's start to the plane's first row.
        public var offset: Int
        /// Bytes from one row to the next.
        public var stride: Int

        /// A plane in `buffer` at `offset`, rows `stride` bytes apart.
        public init(buffer: Int = 0, offset: Int = 0, stride: Int) {
            (self.buffer, self.offset, self.stride) = (buffer, offset, stride)
        }
    }

    /// Pixels per row.
    public var width: Int
    /// Rows.
    public var height: Int
    /// The pixel format.
    public var format: DRMFormat
    /// The tiling: `.linear` for rows of pixels.
    public var modifier: DRMFormatModifier
    /// The memory planes, as many as the format has.
    public var planes: [Plane]

    /// A layout as given; ``validate(bufferSizes:)`` checks it.
    public init(
        width: Int, height: Int, format: DRMFormat, modifier: DRMFormatModifier = .linear, planes: [Plane]
    ) {
        (self.width, self.height, self.format, self.modifier, self.planes) = (width, height, format, modifier, planes)
    }

    /// A linear image of a one-plane format in buffer 0 at offset 0, rows `stride` bytes apart
    /// (by default width x bytes per pixel).
    ///
    /// - Throws: `.invalidArgument` for a size below 1x1, a format whose layout this library
    ///   does not know or that has more than one plane, or a stride that does not fit.
    public static func packed(
        width: Int, height: Int, format: DRMFormat, stride: Int? = nil
    ) throws(DMABufError) -> ImageLayout {
        let operation = "describe a \(width)x\(height) \(format) image"
        guard format.planeCount == 1, let bytesPerPixel = format.bytesPerPixel(plane: 0) else {
            throw DMABufError(
                .invalidArgument, operation: operation,
                hint: "Only one-plane formats of known size are packed (XR24, AR24, XB24, RG16, BG24, RG24, YUYV)")
        }
        guard width >= 1, height >= 1 else {
            throw DMABufError(.invalidArgument, operation: operation, hint: "The width and height must be 1 or more")
        }
        let row = width.multipliedReportingOverflow(by: bytesPerPixel)
        guard !row.overflow else {
            throw DMABufError(.invalidArgument, operation: operation, hint: "A row is larger than memory can hold")
        }
        let layout = ImageLayout(
            width: width, height: height, format: format, planes: [Plane(stride: stride ?? row.partialValue)])
        try layout.validate(bufferSizes: nil)
        return layout
    }

    /// Bytes the image takes in each buffer: the end of its last row there.
    public var bufferSizes: [Int] {
        var sizes: [Int] = []
        for (index, plane) in planes.enumerated() where plane.buffer >= 0 {
            let rows = height / format.subsampling(plane: index).vertical
            let end = plane.offset + plane.stride * rows
            while sizes.count <= plane.buffer { sizes.append(0) }
            sizes[plane.buffer] = max(sizes[plane.buffer], end)
        }
        return sizes
    }

    /// Checks the layout against the sizes of the buffers it will be given with, before any
    /// ioctl: the image is at least 1x1; the format's plane count (where the library knows the
    /// format); for each plane, a buffer index among `bufferSizes`, an offset of 0 or more, a
    /// stride at least the width times the bytes per pixel (for linear images), and
    /// offset + stride x rows within that buffer's size. Overflowing products are refused.
    ///
    /// - Parameter bufferSizes: the size of each buffer; nil checks everything but the sizes.
    /// - Throws: `.invalidArgument`, whose hint names the plane and the field: "plane 0: stride
    ///   100 is less than 1280 x 4 bytes".
    public func validate(bufferSizes: [Int]?) throws(DMABufError) {
        func refuse(_ why: String) -> DMABufError {
            DMABufError(.invalidArgument, operation: "check the layout of a \(self)", hint: why)
        }
        guard width >= 1, height >= 1 else { throw refuse("The width and height must be 1 or more") }
        guard !planes.isEmpty, planes.count <= 4 else {
            throw refuse("An image has 1 to 4 planes, not \(planes.count)")
        }
        if let count = format.planeCount, count != planes.count {
            throw refuse("\(format) has \(count) plane\(count == 1 ? "" : "s"), the layout \(planes.count)")
        }
        for (index, plane) in planes.enumerated() {
            let name = "plane \(index)"
            guard plane.buffer >= 0, bufferSizes.map({ plane.buffer < $0.count }) ?? true else {
                throw refuse("\(name): buffer \(plane.buffer) is not one of the \(bufferSizes?.count ?? 0) given")
            }
            guard plane.offset >= 0 else { throw refuse("\(name): offset \(plane.offset) is negative") }
            guard plane.stride >= 1 else { throw refuse("\(name): stride \(plane.stride) is not positive") }
            let subsampling = format.subsampling(plane: index)
            if modifier == .linear, let bytesPerPixel = format.bytesPerPixel(plane: index) {
                let pixels = (width + subsampling.horizontal - 1) / subsampling.horizontal
                let row = pixels.multipliedReportingOverflow(by: bytesPerPixel)
                guard !row.overflow, plane.stride >= row.partialValue else {
                    throw refuse("\(name): stride \(plane.stride) is less than \(pixels) x \(bytesPerPixel) bytes")
                }
            }
            let rows = (height + subsampling.vertical - 1) / subsampling.vertical
            let bytes = plane.stride.multipliedReportingOverflow(by: rows)
            let end = bytes.partialValue.addingReportingOverflow(plane.offset)
            guard !bytes.overflow, !end.overflow else {
                throw refuse("\(name): offset \(plane.offset) + stride \(plane.stride) x \(rows) rows overflows")
            }
            if let size = bufferSizes?[plane.buffer], end.partialValue > size {
                throw refuse(
                    "\(name): offset \(plane.offset) + stride \(plane.stride) x \(rows) rows = \(end.partialValue)"
                        + " bytes, more than the \(size) of buffer \(plane.buffer)")
            }
        }
    }

    /// "1280x720 XR24 (XRGB8888) linear".
    public var description: String { "\(width)x\(height) \(format) \(modifier)" }
}
#endif  // os(Linux)
