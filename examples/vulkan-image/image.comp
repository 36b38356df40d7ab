#version 450
// result[y * width + x] = 2 * picture(x, y) + 1, 8x8 invocations per workgroup.
layout(local_size_x = 8, local_size_y = 8) in;
layout(set = 0, binding = 0, r32f) readonly uniform image2D picture;
layout(std430, set = 0, binding = 1) writeonly buffer Result { float result[]; };

void main()
{
    ivec2 size = imageSize(picture);
    ivec2 p = ivec2(gl_GlobalInvocationID.xy);
    if (p.x < size.x && p.y < size.y)
        result[p.y * size.x + p.x] = 2.0 * imageLoad(picture, p).r + 1.0;
}
