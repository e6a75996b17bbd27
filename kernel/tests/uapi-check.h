/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the Swift shims type by hand (Sources/CDMABuf/include/CDMABufUAPI.h,
 * Sources/CDMABufDRM/include/CDMABufDRMUAPI.h): every ioctl number, size and
 * offset, once as the shims define them (uapi-check-shims.c, which includes
 * nothing else, so that each fallback block is compiled) and once as the
 * kernel's headers do (uapi-check.c). sw_sync has no installed header to
 * compare with.
 */
#ifndef DMABUF_TESTS_UAPI_CHECK_H
#define DMABUF_TESTS_UAPI_CHECK_H

#include <stddef.h>

#define UAPI_FACTS(X)                                                  \
	X(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)                              \
	X(DMA_BUF_IOCTL_IMPORT_SYNC_FILE)                              \
	X(sizeof(struct dma_buf_export_sync_file))                     \
	X(offsetof(struct dma_buf_export_sync_file, fd))               \
	X(sizeof(struct dma_buf_import_sync_file))                     \
	X(offsetof(struct dma_buf_import_sync_file, fd))               \
	X(DRM_IOCTL_VERSION)                                           \
	X(sizeof(struct drm_version))                                  \
	X(offsetof(struct drm_version, name_len))                      \
	X(offsetof(struct drm_version, name))                          \
	X(offsetof(struct drm_version, desc))                          \
	X(DRM_IOCTL_GEM_CLOSE)                                         \
	X(sizeof(struct drm_gem_close))                                \
	X(DRM_IOCTL_PRIME_HANDLE_TO_FD)                                \
	X(DRM_IOCTL_PRIME_FD_TO_HANDLE)                                \
	X(sizeof(struct drm_prime_handle))                             \
	X(offsetof(struct drm_prime_handle, fd))                       \
	X(DRM_CLOEXEC)                                                 \
	X(DRM_RDWR)                                                    \
	X(DRM_IOCTL_MODE_CREATE_DUMB)                                  \
	X(sizeof(struct drm_mode_create_dumb))                         \
	X(offsetof(struct drm_mode_create_dumb, handle))               \
	X(offsetof(struct drm_mode_create_dumb, pitch))                \
	X(offsetof(struct drm_mode_create_dumb, size))                 \
	X(DRM_IOCTL_VGEM_FENCE_ATTACH)                                 \
	X(DRM_IOCTL_VGEM_FENCE_SIGNAL)                                 \
	X(VGEM_FENCE_WRITE)                                            \
	X(sizeof(struct drm_vgem_fence_attach))                        \
	X(offsetof(struct drm_vgem_fence_attach, out_fence))           \
	X(sizeof(struct drm_vgem_fence_signal))                        \
	X(DRM_IOCTL_GET_CAP)                                           \
	X(DRM_IOCTL_SET_CLIENT_CAP)                                    \
	X(sizeof(struct drm_get_cap))                                  \
	X(sizeof(struct drm_set_client_cap))                           \
	X(DRM_CAP_ADDFB2_MODIFIERS)                                    \
	X(DRM_CAP_CRTC_IN_VBLANK_EVENT)                                \
	X(DRM_CLIENT_CAP_UNIVERSAL_PLANES)                             \
	X(DRM_CLIENT_CAP_ATOMIC)                                       \
	X(DRM_CLIENT_CAP_WRITEBACK_CONNECTORS)                         \
	X(sizeof(struct drm_event))                                    \
	X(DRM_EVENT_FLIP_COMPLETE)                                     \
	X(sizeof(struct drm_event_vblank))                             \
	X(offsetof(struct drm_event_vblank, user_data))                \
	X(offsetof(struct drm_event_vblank, tv_sec))                   \
	X(offsetof(struct drm_event_vblank, tv_usec))                  \
	X(offsetof(struct drm_event_vblank, sequence))                 \
	X(offsetof(struct drm_event_vblank, crtc_id))                  \
	X(DRM_DISPLAY_MODE_LEN)                                        \
	X(DRM_PROP_NAME_LEN)                                           \
	X(DRM_MODE_TYPE_PREFERRED)                                     \
	X(DRM_MODE_CONNECTOR_WRITEBACK)                                \
	X(DRM_MODE_OBJECT_CRTC)                                        \
	X(DRM_MODE_OBJECT_CONNECTOR)                                   \
	X(DRM_MODE_OBJECT_PLANE)                                       \
	X(DRM_MODE_OBJECT_ANY)                                         \
	X(DRM_MODE_PROP_RANGE)                                         \
	X(DRM_MODE_PROP_ENUM)                                          \
	X(DRM_MODE_PROP_BLOB)                                          \
	X(DRM_MODE_PROP_BITMASK)                                       \
	X(DRM_MODE_FB_MODIFIERS)                                       \
	X(DRM_MODE_PAGE_FLIP_EVENT)                                    \
	X(DRM_MODE_ATOMIC_TEST_ONLY)                                   \
	X(DRM_MODE_ATOMIC_NONBLOCK)                                    \
	X(DRM_MODE_ATOMIC_ALLOW_MODESET)                               \
	X(FORMAT_BLOB_CURRENT)                                         \
	X(sizeof(struct drm_mode_modeinfo))                            \
	X(offsetof(struct drm_mode_modeinfo, hdisplay))                \
	X(offsetof(struct drm_mode_modeinfo, vdisplay))                \
	X(offsetof(struct drm_mode_modeinfo, vrefresh))                \
	X(offsetof(struct drm_mode_modeinfo, type))                    \
	X(offsetof(struct drm_mode_modeinfo, name))                    \
	X(DRM_IOCTL_MODE_GETRESOURCES)                                 \
	X(sizeof(struct drm_mode_card_res))                            \
	X(offsetof(struct drm_mode_card_res, count_fbs))               \
	X(offsetof(struct drm_mode_card_res, min_width))               \
	X(DRM_IOCTL_MODE_GETENCODER)                                   \
	X(sizeof(struct drm_mode_get_encoder))                         \
	X(offsetof(struct drm_mode_get_encoder, possible_crtcs))       \
	X(DRM_IOCTL_MODE_GETCONNECTOR)                                 \
	X(sizeof(struct drm_mode_get_connector))                       \
	X(offsetof(struct drm_mode_get_connector, count_modes))        \
	X(offsetof(struct drm_mode_get_connector, connector_id))       \
	X(offsetof(struct drm_mode_get_connector, connection))         \
	X(DRM_IOCTL_MODE_GETPLANERESOURCES)                            \
	X(sizeof(struct drm_mode_get_plane_res))                       \
	X(DRM_IOCTL_MODE_GETPLANE)                                     \
	X(sizeof(struct drm_mode_get_plane))                           \
	X(offsetof(struct drm_mode_get_plane, count_format_types))     \
	X(offsetof(struct drm_mode_get_plane, format_type_ptr))        \
	X(DRM_IOCTL_MODE_OBJ_GETPROPERTIES)                            \
	X(sizeof(struct drm_mode_obj_get_properties))                  \
	X(offsetof(struct drm_mode_obj_get_properties, count_props))   \
	X(offsetof(struct drm_mode_obj_get_properties, obj_type))      \
	X(DRM_IOCTL_MODE_GETPROPERTY)                                  \
	X(sizeof(struct drm_mode_get_property))                        \
	X(offsetof(struct drm_mode_get_property, name))                \
	X(offsetof(struct drm_mode_get_property, count_enum_blobs))    \
	X(sizeof(struct drm_mode_property_enum))                       \
	X(DRM_IOCTL_MODE_GETPROPBLOB)                                  \
	X(sizeof(struct drm_mode_get_blob))                            \
	X(offsetof(struct drm_mode_get_blob, data))                    \
	X(DRM_IOCTL_MODE_CREATEPROPBLOB)                               \
	X(sizeof(struct drm_mode_create_blob))                         \
	X(offsetof(struct drm_mode_create_blob, blob_id))              \
	X(DRM_IOCTL_MODE_DESTROYPROPBLOB)                              \
	X(sizeof(struct drm_mode_destroy_blob))                        \
	X(DRM_IOCTL_MODE_ADDFB2)                                       \
	X(DRM_IOCTL_MODE_RMFB)                                         \
	X(sizeof(struct drm_mode_fb_cmd2))                             \
	X(offsetof(struct drm_mode_fb_cmd2, handles))                  \
	X(offsetof(struct drm_mode_fb_cmd2, pitches))                  \
	X(offsetof(struct drm_mode_fb_cmd2, offsets))                  \
	X(offsetof(struct drm_mode_fb_cmd2, modifier))                 \
	X(DRM_IOCTL_MODE_ATOMIC)                                       \
	X(sizeof(struct drm_mode_atomic))                              \
	X(offsetof(struct drm_mode_atomic, objs_ptr))                  \
	X(offsetof(struct drm_mode_atomic, prop_values_ptr))           \
	X(offsetof(struct drm_mode_atomic, user_data))                 \
	X(sizeof(struct drm_format_modifier_blob))                     \
	X(offsetof(struct drm_format_modifier_blob, modifiers_offset)) \
	X(sizeof(struct drm_format_modifier))                          \
	X(offsetof(struct drm_format_modifier, offset))                \
	X(offsetof(struct drm_format_modifier, modifier))

#define UAPI_VALUE(fact) (unsigned long long)(fact),
#define UAPI_NAME(fact) #fact,

extern const unsigned long long uapi_shims[];

#endif /* DMABUF_TESTS_UAPI_CHECK_H */
