--[[
The few Quarto book features the fallback renderer needs, done by pandoc (used only when the Quarto CLI is
not installed; Quarto does all of this itself):

1. Profiles: `::: {.content-visible when-profile="trust"}` keeps its content only for that profile, and
   `.content-hidden` the reverse. The profile comes from the metadata field `profile`.
2. Chapters: each chapter's level-1 heading `# Title {#sec-stem}` is numbered unless `.unnumbered` (the
   appendices, after the renderer's empty `::: {.appendices}` marker, are lettered A, B, ...), and
   takes the id `stem` so that the chunked HTML writes it to `stem.html`, the name Quarto gives it (the
   first chapter, index.qmd, takes `overview`, as pandoc's own top page is index.html: the renderer puts
   the overview in its place).
3. Cross-references: figures `{#fig-...}` (an image, or a Div whose last paragraph is the caption) and
   tables `{#tbl-...}` are numbered per chapter (Figure 3.1, Table 3.2), the number put in the caption,
   and `@fig-...`, `@tbl-...`, `@sec-...` become links reading "Figure 3.1", "Table 3.2", "Chapter 3".
   An unknown reference stops the render, as a broken link must not reach a reader.
4. Links between chapters: `other.qmd#anchor` -> `#anchor`, `other.qmd` -> `#other` (pandoc's chunked
   HTML writer then points them at the right file; in the single PDF they are internal links). A link to
   an anchor the book does not have keeps its text and loses the link.
]]

local profile = "default"
local labels = {}  -- reference id -> {text = "Figure 3.1", target = "fig-x"}

local function page(stem)
  return stem == "index" and "overview" or stem
end

local function read_profile(meta)
  if meta.profile then profile = pandoc.utils.stringify(meta.profile) end
end

local function profile_filter(div)
  local when = div.attributes["when-profile"]
  if not when then return nil end
  local match = (when == profile)
  if div.classes:includes("content-visible") then
    return match and div.content or {}
  elseif div.classes:includes("content-hidden") then
    return match and {} or div.content
  end
end

local function prefix_caption(caption, text)
  local long = caption.long
  if #long == 0 then
    caption.long = pandoc.Blocks { pandoc.Plain { pandoc.Str(text) } }
  else
    local first = long[1]
    first.content:insert(1, pandoc.Space())
    first.content:insert(1, pandoc.Str(text .. ":"))
  end
  return caption
end

local function number(doc)
  local chapter, appendix, prefix, numbered = 0, 0, "", true
  local counts = { fig = 0, tbl = 0 }
  local in_appendices = false
  local function next_label(kind, id)
    counts[kind] = counts[kind] + 1
    local n = (prefix ~= "") and (prefix .. "." .. counts[kind]) or tostring(counts[kind])
    local text = (kind == "fig" and "Figure " or "Table ") .. n
    labels[id] = { text = text, target = id }
    return text
  end
  local function numbered(kind)  -- a table or figure whose id starts with its kind: caption prefixed
    return function(el)
      if el.identifier:match("^" .. kind .. "%-") then
        el.caption = prefix_caption(el.caption, next_label(kind, el.identifier))
        return el
      end
    end
  end
  return doc:walk {
    traverse = "topdown",
    Header = function(h)
      if h.level ~= 1 then  -- the sections of an unnumbered or appendix chapter are unnumbered too
        if not numbered then h.classes:insert("unnumbered"); return h end
        return nil
      end
      counts = { fig = 0, tbl = 0 }
      local id = h.identifier
      local stem = page(id:gsub("^sec%-", ""))
      if in_appendices then  -- Appendix A, B, ...: lettered, as Quarto numbers a book's appendices
        appendix = appendix + 1
        prefix = string.char(64 + appendix)
        labels[id] = { text = "Appendix " .. prefix, target = stem }
        h.content:insert(1, pandoc.Space())
        h.content:insert(1, pandoc.Str(prefix))
        h.classes:insert("unnumbered")
        numbered = false
      elseif h.classes:includes("unnumbered") then
        prefix, numbered = "", false
        labels[id] = { text = pandoc.utils.stringify(h.content), target = stem }
      else
        chapter, numbered = chapter + 1, true
        prefix = tostring(chapter)
        labels[id] = { text = "Chapter " .. chapter, target = stem }
      end
      h.identifier = stem
      return h
    end,
    Div = function(div)
      if div.classes:includes("appendices") then  -- the renderer's marker before the first appendix
        in_appendices = true
        return {}
      end
      if div.identifier:match("^fig%-") and #div.content > 0 then  -- Quarto's figure div: the caption last
        local caption = pandoc.Caption(pandoc.Blocks { pandoc.Plain(div.content[#div.content].content) })
        local body = pandoc.Blocks {}
        for i = 1, #div.content - 1 do body:insert(div.content[i]) end
        local figure = pandoc.Figure(body, caption, pandoc.Attr(div.identifier))
        figure.caption = prefix_caption(figure.caption, next_label("fig", div.identifier))
        return figure
      end
    end,
    Table = numbered("tbl"),
    Figure = numbered("fig"),
  }
end

local function resolve(cite)
  if #cite.citations ~= 1 then return nil end
  local id = cite.citations[1].id
  if not (id:match("^fig%-") or id:match("^tbl%-") or id:match("^sec%-")) then return nil end
  local label = labels[id]
  if not label then error("unknown cross-reference @" .. id) end
  return pandoc.Link(label.text, "#" .. label.target)
end

local function chapter_link(link)
  local file, anchor = link.target:match("^([%w%-_]+)%.qmd#(.+)$")
  if anchor then link.target = "#" .. anchor; return link end
  file = link.target:match("^([%w%-_]+)%.qmd$")
  if file then link.target = "#" .. page(file); return link end
end

-- A link to an anchor this run does not have (a key result that a trust's data did not give) keeps its
-- text and loses the link: a dead link in HTML, and an error in typst.
local function drop_dead_links(doc)
  local ids = {}
  local function note(el) if el.identifier and el.identifier ~= "" then ids[el.identifier] = true end end
  doc:walk { Block = note, Inline = note }
  return doc:walk {
    Link = function(link)
      local target = link.target:match("^#(.+)$")
      if target and not ids[target] then return link.content end
    end,
  }
end

return {
  { Meta = read_profile },
  { Div = profile_filter },
  { Pandoc = number },
  { Cite = resolve, Link = chapter_link },
  { Pandoc = drop_dead_links },
}
