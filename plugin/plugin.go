// Command plugin is avhost's elements as a loadable GStreamer plugin (libgstavhost.so),
// built by `make plugin` with -buildmode=c-shared. It has the shape go-gst's
// cmd/gst-plugin-gen writes, by hand because that generator registers one element per
// plugin and this plugin has two.
package main

import "C"

import (
	"unsafe"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements/pcmslicesrc"
	"github.com/avhost/avhost/elements/singleframesrc"
)

func main() {}

var pluginMeta = &gst.PluginMetadata{
	MajorVersion: gst.VersionMajor,
	MinorVersion: gst.VersionMinor,
	Name:         "avhost",
	Description:  "avhost digital-human sources: singleframesrc and pcmslicesrc",
	Version:      "0.1.0",
	License:      gst.LicenseLGPL,
	Source:       "avhost",
	Package:      "avhost",
	Origin:       "https://github.com/avhost/avhost",
	ReleaseDate:  "2026-11-25",
	Init: func(plugin *gst.Plugin) bool {
		return singleframesrc.RegisterPlugin(plugin) && pcmslicesrc.RegisterPlugin(plugin)
	},
}

// GStreamer looks up gst_plugin_NAME_get_desc, NAME being the file name without
// "libgst" (libgstavhost.so → avhost).
//
//export gst_plugin_avhost_get_desc
func gst_plugin_avhost_get_desc() unsafe.Pointer { return pluginMeta.Export() }
